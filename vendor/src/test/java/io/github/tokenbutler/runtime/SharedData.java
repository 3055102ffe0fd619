package io.github.tokenbutler.runtime;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real models and texts in ../shared beside the checkout. In CI (CI=true) a missing file fails the
 * test; on a developer machine without ../shared the test is skipped with a message saying what is missing.
 */
public final class SharedData {
    private SharedData() {}

    /** The repository root (the folder holding the parent pom). */
    public static Path projectRoot() {
        String env = System.getenv("TOKENBUTLER_ROOT");
        Path p = env != null ? Path.of(env) : Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("tokenbutler"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("cannot find the project root (the folder with ./tokenbutler)");
        return p;
    }

    public static Path sharedDir() {
        String env = System.getenv("TOKENBUTLER_SHARED");
        return env != null ? Path.of(env) : projectRoot().getParent().resolve("shared");
    }

    /** A file under ../shared, e.g. require("models/stories260K/stories260K.gguf"). */
    public static Path require(String relative) {
        Path p = sharedDir().resolve(relative);
        if (!Files.isRegularFile(p)) {
            String msg = "shared data file missing: " + p + " (the real models and texts live in ../shared beside the checkout)";
            if ("true".equals(System.getenv("CI"))) throw new AssertionError(msg);
            Assumptions.abort(msg);
        }
        return p;
    }

    /** A file in test-models/ (committed with the project). */
    public static Path testModel(String name) {
        Path p = projectRoot().resolve("test-models").resolve(name);
        if (!Files.isRegularFile(p)) throw new AssertionError("test model missing: " + p + " (see test-models/README.md for the command that makes it)");
        return p;
    }
}
