package io.github.tokenbutler.eval;

import io.github.tokenbutler.tools.Args;
import io.github.tokenbutler.tools.Command;
import io.github.tokenbutler.tools.Main;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.function.BiFunction;

/** Runs eval/coref in-process with captured stdout/stderr. */
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

    /** Runs a block expected to fail with an exception of the given type, and returns it. */
    public static <T extends Throwable> T expect(Class<T> type, org.junit.jupiter.api.function.Executable block) {
        try {
            block.execute();
        } catch (org.opentest4j.TestAbortedException t) {
            throw t; // a missing shared file (outside CI) skips the test, as everywhere else
        } catch (Throwable t) {
            if (type.isInstance(t)) return type.cast(t);
            throw new AssertionError("expected " + type.getSimpleName() + " but got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + " but nothing was thrown");
    }
}
