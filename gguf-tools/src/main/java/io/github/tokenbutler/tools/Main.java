package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** `./tokenbutler <command>`: dispatches to the tools' commands; user errors print one line and exit 2. */
public final class Main {
    private Main() {}

    static Map<String, Command> commands() {
        Map<String, Command> m = new LinkedHashMap<>();
        for (Command c : List.<Command>of(
                new InspectCommand(),
                new QuantizeCommand(),
                new ConvertLlama2cCommand(),
                new ConvertTiktokenCommand(),
                new SynthCommand(),
                new SynthPredictorCommand(),
                new ImportButlerCommand(),
                new TrainCommand(),
                new EvalCommand(),
                new PlotCommand(),
                new CorefCommand(),
                new BenchCommand(),
                new ServeCommand(),
                new DevicesCommand())) {
            m.put(c.name(), c);
        }
        return m;
    }

    public static void main(String[] argv) {
        System.exit(run(argv));
    }

    /** Runs a command and returns its exit code (tests call this instead of main). */
    public static int run(String[] argv) {
        Map<String, Command> commands = commands();
        if (argv.length == 0 || argv[0].equals("help") || argv[0].equals("--help") || argv[0].equals("-h")) {
            System.out.println(overview(commands));
            return argv.length == 0 ? 2 : 0;
        }
        Command c = commands.get(argv[0]);
        if (c == null) {
            System.err.println("error: unknown command '" + argv[0] + "'. Commands: " + String.join(", ", commands.keySet()));
            return 2;
        }
        String[] rest = java.util.Arrays.copyOfRange(argv, 1, argv.length);
        if (rest.length == 1 && (rest[0].equals("--help") || rest[0].equals("-h"))) {
            System.out.println(c.usage());
            return 0;
        }
        try {
            return c.run(new Args(c.name(), rest, flagsOf(c)));
        } catch (UserError e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        } catch (OutOfMemoryError e) {
            System.err.println("error: " + c.name() + " ran out of memory (" + e.getMessage() + "); give it a larger heap with"
                    + " TOKENBUTLER_JAVA_OPTS=-Xmx<size> (now at most " + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB)");
            return 2;
        } catch (Exception | Error e) {
            System.err.println("internal error in '" + c.name() + "' (please report): " + e);
            e.printStackTrace();
            return 1;
        }
    }

    private static java.util.Set<String> flagsOf(Command c) {
        return c instanceof FlagOptions f ? f.flags() : java.util.Set.of();
    }

    /** Implemented by commands that have value-less options. */
    public interface FlagOptions {
        java.util.Set<String> flags();
    }

    static String overview(Map<String, Command> commands) {
        StringBuilder sb = new StringBuilder("usage: ./tokenbutler <command> [options]   (./tokenbutler <command> --help for details)\n\n");
        sb.append(String.format("  %-18s %s%n", "demo", "run the default model with TokenButler"));
        sb.append(String.format("  %-18s %s%n", "test", "run the test suite"));
        sb.append(String.format("  %-18s %s%n", "run", "generate text with a GGUF model (./tokenbutler run --help)"));
        for (Command c : commands.values()) sb.append(String.format("  %-18s %s%n", c.name(), c.summary()));
        return sb.toString();
    }
}
