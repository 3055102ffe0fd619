package io.github.tokenbutler.examples;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * examples/HelloTokenButler.java runs with jbang as a user runs it after {@code mvn install}: jbang reads its
 * {@code //DEPS}, resolves io.github.tokenbutler:tokenbutler-runtime from a Maven repository, compiles the script
 * and runs it. Here the repository is a temporary one holding this build's runtime (jar, pom and the parent pom, in
 * the layout {@code mvn install} writes), given to jbang as its local repository with {@code --offline}: nothing is
 * installed into ~/.m2 and nothing is fetched. jbang is the dev.jbang:jbang-cli jar from Maven Central (a test
 * dependency), started as its own launcher script starts it: it prints the java command line and exits with 255,
 * and the script executes that line.
 */
class JbangExampleTest {
    static final String VERSION = "0.1.0-SNAPSHOT";

    @Test
    void theExampleRunsWithJbangAgainstThisBuildsArtifacts(@TempDir Path tmp) throws Exception {
        Path root = SharedData.projectRoot();
        Path model = SharedData.require("models/stories260K/stories260K.gguf");
        Path repo = tmp.resolve("repo");
        installRuntime(root, repo);

        Path jbangHome = tmp.resolve("jbang");
        List<String> jbang = List.of(java(), "-cp", System.getProperty("java.class.path"), "dev.jbang.Main",
                "run", "--offline", "--quiet", root.resolve("examples/HelloTokenButler.java").toString(), model.toString());
        ProcessBuilder pb = new ProcessBuilder(jbang).directory(root.toFile());
        pb.environment().put("JBANG_DIR", jbangHome.toString());                 // cache and config: not ~/.jbang
        pb.environment().put("JBANG_REPO", repo.toString());                     // the Maven repository: not ~/.m2
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));      // this JDK 25: jbang downloads none
        pb.environment().put("NO_COLOR", "1");
        Result resolved = run(pb);
        assertEquals(255, resolved.code, "jbang should hand back a command line to run (exit 255); stderr:\n" + resolved.err + "\nstdout:\n" + resolved.out);
        String command = resolved.out.strip();
        assertTrue(command.contains(repo.resolve("io/github/tokenbutler/tokenbutler-runtime").toString()),
                "the runtime comes from the temporary repository: " + command);

        ProcessBuilder exec = new ProcessBuilder("bash", "-c", "exec " + command).directory(root.toFile());
        exec.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Result ran = run(exec);
        assertEquals(0, ran.code, "the example failed; stderr:\n" + ran.err);

        String expected;
        try (Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(512))) {
            expected = "Once upon a time" + g.generate("Once upon a time", GenerationParams.greedy(100).withStop("\n"), s -> {}).text() + "\n";
        }
        assertEquals(expected, ran.out, "the script prints what the API gives in this JVM");
        // llama2.c's run.c greedy output from BOS (shared/models/stories260K/REFERENCE.md) begins the same way.
        assertTrue(ran.out.startsWith("Once upon a time, there was a little girl named Lily."), ran.out);
        assertTrue(ran.err.contains("tokens/s, finish: "), ran.err);
    }

    /**
     * The runtime as {@code mvn install} lays it out: jar and pom under the coordinates, and the parent pom the
     * runtime's pom names. The classes are those this build compiled (the test's class path has the module's
     * target/classes in a reactor build, or its jar).
     */
    static void installRuntime(Path root, Path repo) throws IOException, URISyntaxException {
        Path runtimeDir = repo.resolve("io/github/tokenbutler/tokenbutler-runtime/" + VERSION);
        Path parentDir = repo.resolve("io/github/tokenbutler/tokenbutler-parent/" + VERSION);
        Files.createDirectories(runtimeDir);
        Files.createDirectories(parentDir);
        Files.copy(root.resolve("vendor/pom.xml"), runtimeDir.resolve("tokenbutler-runtime-" + VERSION + ".pom"));
        Files.copy(root.resolve("pom.xml"), parentDir.resolve("tokenbutler-parent-" + VERSION + ".pom"));
        Path jar = runtimeDir.resolve("tokenbutler-runtime-" + VERSION + ".jar");
        Path built = Path.of(Llama3.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isRegularFile(built)) {
            Files.copy(built, jar);
            return;
        }
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(built)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(built.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
    }

    record Result(int code, String out, String err) {}

    static Result run(ProcessBuilder pb) throws IOException, InterruptedException {
        Path out = Files.createTempFile("jbang-out", ".txt"), err = Files.createTempFile("jbang-err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail("timed out: " + pb.command());
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static String java() { return Path.of(System.getProperty("java.home"), "bin", "java").toString(); }
}
