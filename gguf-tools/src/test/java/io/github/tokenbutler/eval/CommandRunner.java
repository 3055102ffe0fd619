package io.github.tokenbutler.eval;

import io.github.tokenbutler.tools.Args;
import io.github.tokenbutler.tools.Command;
import io.github.tokenbutler.tools.Main;
import org.junit.jupiter.api.Assumptions;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * Runs eval/coref in-process with captured stdout/stderr. While the runtime or the plugin still has
 * TODO stubs (UnsupportedOperationException), an end-to-end test is skipped with that reason instead of
 * failing; once they are implemented the same tests run for real.
 */
public final class CommandRunner {
    private CommandRunner() {}

    public record Output(int exitCode, String out, String err) {}

    public static Output run(BiFunction<PrintStream, PrintStream, Command> factory, String... argv) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8); PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            Command c = factory.apply(o, e);
            Set<String> flags = c instanceof Main.FlagOptions f ? f.flags() : Set.of();
            int code = c.run(new Args(c.name(), argv, flags));
            return new Output(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        }
    }

    /** Like run, but an unimplemented runtime or plugin (a TODO stub) skips the test. */
    public static Output runEndToEnd(BiFunction<PrintStream, PrintStream, Command> factory, String... argv) throws Exception {
        try {
            return run(factory, argv);
        } catch (UnsupportedOperationException e) {
            Assumptions.abort("runtime or plugin not implemented yet: " + e.getMessage());
            throw e;
        }
    }

    /** Runs a block expected to fail with a user error; an unimplemented stub hit first skips the test. */
    public static <T extends Throwable> T expectEndToEnd(Class<T> type, org.junit.jupiter.api.function.Executable block) {
        try {
            block.execute();
        } catch (UnsupportedOperationException e) {
            Assumptions.abort("runtime or plugin not implemented yet: " + e.getMessage());
        } catch (org.opentest4j.TestAbortedException t) {
            throw t; // a missing shared file (outside CI) skips the test, as everywhere else
        } catch (Throwable t) {
            if (type.isInstance(t)) return type.cast(t);
            throw new AssertionError("expected " + type.getSimpleName() + " but got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + " but nothing was thrown");
    }
}
