package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * User mistakes on the command line end with exit code 2 and one line "error: ..." on stderr, never a
 * stack trace: for the tools (Main.run, in this JVM) and for the runtime CLI (Llama3.main, which calls
 * System.exit, so it runs in a child JVM).
 */
class CliErrorsTest {
    @TempDir Path dir;

    /** What a tools command printed and returned. */
    record Result(int code, String out, String err) {
        List<String> errLines() { return err.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList(); }
    }

    /** Runs Main.run with stdout and stderr captured (tests run one at a time in this JVM). */
    static Result run(String... argv) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run(argv);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Exit 2, exactly one stderr line "error: ..." containing every fragment, and no stack trace. */
    static void assertUserError(Result r, String... fragments) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.errLines();
        assertEquals(1, lines.size(), "one line on stderr, got: " + r.err());
        assertTrue(lines.getFirst().startsWith("error: "), lines.getFirst());
        for (String f : fragments) assertTrue(lines.getFirst().contains(f), "'" + f + "' not in: " + lines.getFirst());
        assertNoStackTrace(r.err());
    }

    static void assertNoStackTrace(String err) {
        assertFalse(err.contains("\tat "), "stack trace printed: " + err);
        assertFalse(err.contains("Exception"), "exception name printed: " + err);
    }

    // --- tools -----------------------------------------------------------------------------------------

    @Test
    void unknownCommand() {
        assertUserError(run("frobnicate"), "unknown command 'frobnicate'", "inspect");
    }

    @Test
    void unknownOption() {
        assertUserError(run("inspect", "--colour", "red", SharedData.testModel("tiny-f32.gguf").toString()), "unknown option --colour");
    }

    @Test
    void optionWithoutValue() {
        assertUserError(run("quantize", "a.gguf", "b.gguf", "--type"), "--type needs a value");
    }

    @Test
    void missingInputFile() {
        assertUserError(run("inspect", dir.resolve("missing.gguf").toString()), "not found", "missing.gguf");
    }

    @Test
    void missingPositionalArgument() {
        assertUserError(run("convert-llama2c"), "missing argument MODEL.bin");
    }

    @Test
    void tooManyPositionalArguments() {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertUserError(run("inspect", m.toString(), m.toString()), "unexpected argument");
    }

    @Test
    void quantizeWithoutType() {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertUserError(run("quantize", m.toString(), dir.resolve("o.gguf").toString()), "--type is required");
    }

    @Test
    void quantizeToUnsupportedType() {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertUserError(run("quantize", m.toString(), dir.resolve("o.gguf").toString(), "--type", "Q3_K"),
                "option --type must be one of Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M, got 'Q3_K'");
        assertFalse(Files.exists(dir.resolve("o.gguf")));
    }

    @Test
    void synthUnknownPreset() {
        assertUserError(run("synth", "--preset", "huge", dir.resolve("o.gguf").toString()), "unknown preset 'huge'", "tiny");
    }

    @Test
    void synthBadSeed() {
        assertUserError(run("synth", "--preset", "tiny", "--seed", "x1", dir.resolve("o.gguf").toString()), "--seed", "integer", "x1");
    }

    @Test
    void inspectANonGgufFile() throws IOException {
        Path f = dir.resolve("notes.txt");
        Files.writeString(f, "hello, this is not a model");
        assertUserError(run("inspect", f.toString()), "not a GGUF file", "magic");
    }

    @Test
    void helpIsNotAnError() {
        Result r = run("quantize", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--type"), r.out());
    }

    // --- runtime CLI (Llama3.main) in a child JVM --------------------------------------------------------
    // These need the runtime's CLI (vendor/Llama3.java, another engineer's work in progress).

    /** Runs Llama3.main in a child JVM with the test classpath. */
    static Result runRuntime(String... args) throws IOException, InterruptedException {
        String javaBin = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "io.github.tokenbutler.runtime.Llama3"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        // Read both streams fully before waiting so a chatty child cannot block on a full pipe.
        var outF = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        var errF = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("runtime CLI did not finish in 120 s: " + cmd);
        }
        return new Result(p.exitValue(), outF.join(), errF.join());
    }

    private static String readAll(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Non-zero exit, a one-line message with the fragments, no stack trace. */
    static void assertRuntimeUserError(Result r, String... fragments) {
        assertNotEquals(0, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.errLines().stream().filter(l -> !l.isBlank()).toList();
        assertFalse(lines.isEmpty(), "an error message on stderr");
        assertTrue(lines.size() <= 2, "a short message, got: " + r.err());
        String all = String.join("\n", lines);
        for (String f : fragments) assertTrue(all.contains(f), "'" + f + "' not in: " + all);
        assertNoStackTrace(r.err());
    }

    @Test
    void runtimeRejectsNonNumericTemperature() throws Exception {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertRuntimeUserError(runRuntime("--model", m.toString(), "--temperature", "abc", "--prompt", "hi"), "temperature", "abc");
    }

    @Test
    void runtimeNeedsAModel() throws Exception {
        assertRuntimeUserError(runRuntime("--prompt", "hi"), "--model");
    }

    @Test
    void runtimeRejectsUnknownAttention() throws Exception {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertRuntimeUserError(runRuntime("--model", m.toString(), "--attention", "no-such-attention", "--prompt", "hi", "--max-tokens", "1"),
                "no-such-attention", "dense");
    }

    @Test
    void runtimeRejectsPromptLongerThanContext() throws Exception {
        Path m = SharedData.testModel("tiny-f32.gguf");
        // Byte fallback makes each of these characters at least one token: far more than 16 positions.
        assertRuntimeUserError(runRuntime("--model", m.toString(), "--context", "16", "--prompt", "zq".repeat(40), "--max-tokens", "1"),
                "context");
    }

    @Test
    void runtimeRejectsMissingModelFile() throws Exception {
        assertRuntimeUserError(runRuntime("--model", dir.resolve("nope.gguf").toString(), "--prompt", "hi"), "nope.gguf");
    }

    @Test
    void runtimeRejectsAnUnknownCacheType() throws Exception {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertRuntimeUserError(runRuntime("--model", m.toString(), "-ctk", "q4_9", "--prompt", "hi", "--max-tokens", "1"),
                "-ctk", "f32, f16 or q8_0", "q4_9");
    }

    @Test
    void runtimeRejectsAThreadCountBelowOne() throws Exception {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertRuntimeUserError(runRuntime("--model", m.toString(), "-t", "0", "--prompt", "hi", "--max-tokens", "1"), "-t", "0");
    }

    @Test
    void evalRejectsAnUnknownCacheType() {
        Path m = SharedData.testModel("tiny-f32.gguf");
        assertUserError(run("eval", "--model", m.toString(), "--text", m.toString(), "--ctx", "16", "--policies", "dense", "-ctv", "f8"),
                "--cache-type-v", "f8");
    }
}
