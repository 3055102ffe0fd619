package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import io.github.tokenbutler.tools.CliErrorsTest.Result;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The cases a mutation campaign on stories260K and its predictor found (2026-12-01), each with the message
 * it now gets: bounds that overflowed, metadata that allocated or computed garbage, NaN weights that printed
 * nonsense with exit 0, raw bytes in messages, and writers that left files behind. The files are made here
 * from the committed tiny-f32.gguf (2 blocks, dim 64, context 256) by patching bytes at offsets found from
 * the GGUF layout ({@link GgufLayout}).
 */
class ReliabilityTest {
    @TempDir Path dir;

    private static final Path TINY = SharedData.testModel("tiny-f32.gguf");

    private byte[] tiny() throws IOException { return Files.readAllBytes(TINY); }

    private Path save(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static GgufLayout.Field field(byte[] file, GgufLayout.Kind kind, String owner) {
        return new GgufLayout(file).fields(kind).stream().filter(f -> f.owner().equals(owner)).findFirst()
                .orElseThrow(() -> new AssertionError(kind + " of " + owner + " not in the file"));
    }

    private static ByteBuffer le(byte[] b) { return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN); }

    /** Llama3.run in this JVM (stdin empty): exit code and what it printed. */
    static Result runtime(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8); PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Llama3.run(args, new ByteArrayInputStream(new byte[0]), o, e);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static UserError loadFails(Path p, String... fragments) {
        UserError e = assertThrows(UserError.class, () -> {
            try (Model m = Model.load(p, LoadOptions.defaults())) {
                fail("loaded: " + m.config());
            }
        });
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
        return e;
    }

    // --- bounds and metadata ----------------------------------------------------------------------------

    @Test
    void aTensorOffsetOfTwoToThe63IsRefusedByInspectAndRun() throws IOException {
        byte[] b = tiny();
        le(b).putLong(field(b, GgufLayout.Kind.TENSOR_OFFSET, "blk.1.attn_q.weight").offset(), 1L << 63);
        Path p = save("offset.gguf", b);
        assertUserError(CliErrorsTest.run("inspect", p.toString()), "'blk.1.attn_q.weight' has data offset 9223372036854775808", "beyond the end of the file");
        assertUserError(runtime("--model", p.toString(), "--prompt", "hi"), "beyond the end of the file");
    }

    @Test
    void tensorsWhoseDataOverlapAreRefused() throws IOException {
        byte[] b = tiny();
        long q0 = le(b).getLong(field(b, GgufLayout.Kind.TENSOR_OFFSET, "blk.0.attn_q.weight").offset());
        le(b).putLong(field(b, GgufLayout.Kind.TENSOR_OFFSET, "blk.1.attn_q.weight").offset(), q0);
        UserError e = assertThrows(UserError.class, () -> GGUF.read(save("overlap.gguf", b)).close());
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    }

    @Test
    void aHugeBlockCountIsRefusedBeforeAnythingIsAllocated() throws IOException {
        byte[] b = tiny();
        int at = field(b, GgufLayout.Kind.SCALAR, "llama.block_count").offset();
        le(b).putInt(at, Integer.MAX_VALUE);
        loadFails(save("blocks-max.gguf", b), "llama.block_count' is 2147483647, expected an integer in 1..4096");
        le(b).putInt(at, 100);
        loadFails(save("blocks-100.gguf", b), "llama.block_count is 100 but the file has only");
        // Fewer blocks than the file holds would silently drop layers.
        le(b).putInt(at, 1);
        loadFails(save("blocks-1.gguf", b), "'blk.1.", "belongs to block 1 but llama.block_count is 1");
    }

    @ParameterizedTest
    @ValueSource(floats = {Float.POSITIVE_INFINITY, Float.NaN, 1e30f, 0f, -1e-5f})
    void anRmsEpsilonOutOfRangeIsRefused(float eps) throws IOException {
        byte[] b = tiny();
        le(b).putFloat(field(b, GgufLayout.Kind.SCALAR, "llama.attention.layer_norm_rms_epsilon").offset(), eps);
        loadFails(save("eps.gguf", b), "layer_norm_rms_epsilon is " + eps, "expected a number in (0, 0.01]");
    }

    @Test
    void controlBytesOfACorruptNameAreEscapedInTheMessage() throws IOException {
        byte[] b = tiny();
        GgufLayout.Field name = field(b, GgufLayout.Kind.TENSOR_NAME_BYTES, "blk.0.attn_q.weight");
        b[name.offset() + 5] = '\n';
        b[name.offset() + 6] = 0x1b;
        // Its dimension count made absurd, so that the message shows the name.
        le(b).putInt(name.offset() + name.width(), 77);
        Result r = CliErrorsTest.run("inspect", save("name.gguf", b).toString());
        assertUserError(r, "tensor 'blk.0\\n\\x1bttn_q.weight' has 77 dimensions");
    }

    @Test
    void aVeryLongCorruptStringIsCutInTheMessage() throws IOException {
        byte[] b = tiny();
        GgufLayout.Field len = field(b, GgufLayout.Kind.TENSOR_NAME_LENGTH, "blk.0.attn_q.weight");
        le(b).putLong(len.offset(), 5000); // the name now runs over the following infos
        UserError e = assertThrows(UserError.class, () -> GGUF.read(save("long.gguf", b)).close());
        assertTrue(e.getMessage().length() < 400, e.getMessage());
        // 5000 bytes decode to fewer characters (invalid UTF-8 sequences become one replacement character each).
        assertTrue(e.getMessage().matches(".*'blk\\.0\\.attn_q\\.weight.*'\\.\\.\\. \\(\\d+ characters\\) has \\d+ dimensions.*"), e.getMessage());
    }

    // --- NaN and Inf in weights ---------------------------------------------------------------------------

    /** tiny-f32 with one 0xFF byte in blk.0.attn_q.weight's data: element 70 (row 1, column 6) becomes NaN. */
    private Path nanModel() throws IOException {
        byte[] b = tiny();
        GgufLayout layout = new GgufLayout(b);
        GgufLayout.Tensor q = layout.tensors.stream().filter(t -> t.name().equals("blk.0.attn_q.weight")).findFirst().orElseThrow();
        b[(int) q.dataStart() + 70 * 4 + 3] = (byte) 0xff;
        b[(int) q.dataStart() + 70 * 4 + 2] = (byte) 0xff;
        return save("nan.gguf", b);
    }

    @Test
    void nanWeightsStopGenerationWithAMessageInsteadOfPrintingGarbage() throws IOException {
        Path p = nanModel();
        assertUserError(runtime("--model", p.toString(), "--prompt", "hi", "--max-tokens", "4"),
                "computed a NaN logit at position", "--check-tensors");
    }

    @Test
    void checkTensorsNamesTheTensorRowAndColumn() throws IOException {
        Path p = nanModel();
        assertUserError(runtime("--model", p.toString(), "--prompt", "hi", "--max-tokens", "4", "--check-tensors"),
                "tensor 'blk.0.attn_q.weight' (F32) holds NaN at row 1, column 6");
        Result ok = runtime("--model", TINY.toString(), "--prompt", "hi", "--max-tokens", "2", "--check-tensors", "--temperature", "0");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.err().contains("all finite"), ok.err());
    }

    @Test
    void aNanInANormIsFoundAtLoad() throws IOException {
        byte[] b = tiny();
        GgufLayout.Tensor norm = new GgufLayout(b).tensors.stream().filter(t -> t.name().equals("blk.1.ffn_norm.weight")).findFirst().orElseThrow();
        le(b).putFloat((int) norm.dataStart() + 4 * 3, Float.NEGATIVE_INFINITY);
        loadFails(save("norm.gguf", b), "tensor 'blk.1.ffn_norm.weight' holds -Infinity at element 3");
    }

    /** A finite weight far outside a trained model's range overflows the hidden state: every logit then comes out equal. */
    @Test
    void aHugeFiniteWeightIsCaughtByTheLogitsAndByCheckTensors() throws IOException {
        byte[] b = tiny();
        GgufLayout.Tensor down = new GgufLayout(b).tensors.stream().filter(t -> t.name().equals("blk.0.ffn_down.weight")).findFirst().orElseThrow();
        le(b).putFloat((int) down.dataStart() + 4 * 100, -3e38f);
        Path p = save("huge.gguf", b);
        // Here the overflow reaches a NaN; with other weights it gives the same logit for every token: both stop.
        assertUserError(runtime("--model", p.toString(), "--prompt", "hi", "--max-tokens", "4"), "logit at position", "--check-tensors");
        assertUserError(runtime("--model", p.toString(), "--prompt", "hi", "--max-tokens", "4", "--check-tensors"),
                "tensor 'blk.0.ffn_down.weight' (F32) holds -3.0E38 at row 0, column 100");
    }

    @Test
    void anAllZeroOutputNormIsCaughtByTheLogits() throws IOException {
        byte[] b = tiny();
        GgufLayout.Tensor norm = new GgufLayout(b).tensors.stream().filter(t -> t.name().equals("output_norm.weight")).findFirst().orElseThrow();
        java.util.Arrays.fill(b, (int) norm.dataStart(), (int) (norm.dataStart() + norm.dataBytes()), (byte) 0);
        assertUserError(runtime("--model", save("zero-norm.gguf", b).toString(), "--prompt", "hi", "--max-tokens", "4"), "the same logit (0.0)");
    }

    // --- command lines --------------------------------------------------------------------------------------

    @Test
    void numbersOutOfRangeNameTheRange() {
        assertUserError(runtime("--model", TINY.toString(), "-t", "100000"), "option -t expects an integer from 1 to 1024, got 100000");
        assertUserError(runtime("--model", TINY.toString(), "--max-tokens", "99999999999"), "from 1 to 2147483647");
        Path out = dir.resolve("s.gguf");
        assertUserError(CliErrorsTest.run("synth", "--dims", "64,192,1,4,2,2147483647", out.toString()), "VOCAB must be an integer from 1 to 4194304");
        assertUserError(CliErrorsTest.run("synth", "--dims", "64,192,1,4,2,300", "--rope-theta", "-5", out.toString()), "--rope-theta expects a number above 0, got -5");
    }

    @Test
    void anUnknownLastToolOptionIsUnknown() {
        assertUserError(CliErrorsTest.run("inspect", TINY.toString(), "--bogus"), "inspect: unknown option --bogus");
        assertUserError(CliErrorsTest.run("inspect", "--=x", TINY.toString()), "option '--=x' has no name");
    }

    @Test
    void quantizeRefusesToOverwriteItsInputOrToRelabelQuantizedWeights() throws IOException {
        Path copy = dir.resolve("m.gguf");
        Files.copy(TINY, copy);
        assertUserError(CliErrorsTest.run("quantize", copy.toString(), copy.toString(), "--type", "Q8_0"), "is the input file");
        Path q8 = dir.resolve("q8.gguf");
        assertEquals(0, CliErrorsTest.run("quantize", copy.toString(), q8.toString(), "--type", "Q8_0").code());
        assertUserError(CliErrorsTest.run("quantize", q8.toString(), dir.resolve("q4.gguf").toString(), "--type", "Q4_0"),
                "no tensor of", "can be quantized to Q4_0", "already quantized");
        assertFalse(Files.exists(dir.resolve("q4.gguf")));
    }

    @Test
    void inspectEscapesControlBytesOfKeys() throws IOException {
        byte[] b = tiny();
        GgufLayout.Field key = field(b, GgufLayout.Kind.KEY_BYTES, "general.name");
        b[key.offset() + 3] = 0x7f;
        b[key.offset() + 4] = 0x1b;
        Result r = CliErrorsTest.run("inspect", save("key.gguf", b).toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("gen\\x7f\\x1bal.name"), r.out());
        assertTrue(r.out().chars().noneMatch(c -> c == 0x7f || c == 0x1b), "no raw control bytes");
    }

    @Test
    void evalRefusesABadAttentionOptionBeforeTheDenseRun() {
        Result r = CliErrorsTest.run("eval", "--model", TINY.toString(), "--text", SharedData.require("data/tinystories/valid.txt").toString(),
                "--ctx", "64", "--max-chunks", "1", "--policies", "h2o", "--attention-opt", "bogus=1");
        // One stderr line: the error, and no progress line of a dense run before it.
        assertUserError(r, "attention h2o: unknown option 'bogus'");
    }

    @Test
    void aFolderGivenAsTheModelIsNamedAsAFolder() {
        assertUserError(runtime("--model", dir.toString(), "--prompt", "hi"), "model file " + dir, "is a folder, expected a file");
        assertUserError(CliErrorsTest.run("inspect", dir.toString()), "is a folder, expected a file");
    }

    @Test
    void anUnknownOptionAtTheEndIsUnknownNotMissingItsValue() {
        assertUserError(runtime("--model", TINY.toString(), "--bogus"), "unknown option '--bogus'");
        assertUserError(runtime("--model", TINY.toString(), "--prompt"), "option --prompt needs a value");
    }

    @Test
    void sparsityOneIsRefusedByRunAsByEval() {
        assertUserError(runtime("--model", TINY.toString(), "--prompt", "hi", "--attention", "streaming", "--attention-opt", "sparsity=1"),
                "option 'sparsity' expects a number from 0", "not including 1", "got '1'");
        Result zero = runtime("--model", TINY.toString(), "--prompt", "hi", "--max-tokens", "2", "--attention", "streaming", "--attention-opt", "sparsity=0");
        assertEquals(0, zero.code(), zero.err());
    }

    // --- outputs --------------------------------------------------------------------------------------------

    @Test
    void ioFailuresAreSaidInWords() {
        assertEquals("cannot write out.gguf: the file system is read-only",
                UserError.io("cannot write out.gguf", new FileSystemException("/mnt/out.gguf", null, "Read-only file system")).getMessage());
        assertEquals("cannot write out.gguf: the disk is full",
                UserError.io("cannot write out.gguf", new FileSystemException("/mnt/out.gguf", null, "No space left on device")).getMessage());
        assertEquals("cannot write out.gguf: permission denied (/mnt)",
                UserError.io("cannot write out.gguf", new AccessDeniedException("/mnt")).getMessage());
    }

    /** A folder this process cannot create files in, even as root: sysfs refuses new files to everyone. */
    private static Path unwritableFolder() {
        Path sys = Path.of("/sys");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(sys), "needs Linux's /sys as an unwritable folder");
        return sys;
    }

    @Test
    void evalIntoAnUnwritableFolderFailsBeforeTheEvaluation() {
        Path csv = unwritableFolder().resolve("results.csv");
        Result r = CliErrorsTest.run("eval", "--model", TINY.toString(), "--text", SharedData.require("data/tinystories/valid.txt").toString(),
                "--ctx", "64", "--max-chunks", "1", "--policies", "oracle", "--out", csv.toString());
        assertUserError(r, "eval: --out " + csv + ": cannot write in folder /sys: permission denied");
    }

    @Test
    void everyWriterChecksItsOutputFirst() {
        Path out = unwritableFolder().resolve("x.gguf");
        assertUserError(CliErrorsTest.run("synth", "--preset", "tiny", out.toString()), "synth: output " + out + ": cannot write in folder /sys");
        assertUserError(CliErrorsTest.run("quantize", TINY.toString(), out.toString(), "--type", "Q8_0"), "cannot write in folder /sys");
        assertUserError(CliErrorsTest.run("synth-predictor", "--model", TINY.toString(), "--out", out.toString()), "cannot write in folder /sys");
    }

    @Test
    void aPredictorOfAnotherModelIsRefusedBeforeTheDenseRun() {
        Result r = CliErrorsTest.run("eval", "--model", TINY.toString(), "--text", SharedData.require("data/tinystories/valid.txt").toString(),
                "--ctx", "64", "--max-chunks", "1", "--predictor", SharedData.testModel("stories260K.butler.gguf").toString());
        assertUserError(r, "was trained for model 'stories260K'");
        assertFalse(r.out().contains("perplexity"), r.out());
    }

    @Test
    void aFileLargerThanTheDiskIsRefusedBeforeWriting() throws IOException {
        Path out = dir.resolve("huge.gguf");
        assertUserError(CliErrorsTest.run("synth", "--dims", "100000,100000,100,8,8,100000", out.toString()),
                "cannot write " + out + ": it needs 28.1 TB and the disk holding " + dir + " has", "free");
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "nothing written");
        }
    }

    /**
     * A writer stopped by SIGTERM or SIGINT (Ctrl-C) leaves neither its output nor its temporary file: synth of a
     * 1B-shaped file (1.3 GB, several seconds) in a child JVM, signalled as soon as its temporary file appears.
     */
    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    void aSignalledWriterLeavesNoFileBehind(String signal) throws Exception {
        if (signal.equals("INT")) assumeSigintReachesChildren();
        Path out = dir.resolve("big.gguf");
        String javaBin = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "io.github.tokenbutler.tools.Main",
                "synth", "--preset", "llama-3.2-1b", "--type", "Q8_0", out.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!hasTemporary(dir)) {
                assertTrue(p.isAlive(), "synth ended before its temporary file appeared (exit " + (p.isAlive() ? "" : p.exitValue()) + ")");
                assertTrue(System.nanoTime() < deadline, "no temporary file after 60 s");
                Thread.sleep(20);
            }
            Thread.sleep(200); // some bytes written
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor(), "kill -" + signal);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "synth did not stop after SIG" + signal);
        } finally {
            p.destroyForcibly();
        }
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "files left after SIG" + signal);
        }
    }

    /**
     * Ctrl-C in train finishes the step, writes the checkpoint and exits 130 (docs/TRAINING.md), also when the
     * checkpoint is the first file written (its temporary file is then created during the JVM's shutdown).
     */
    @Test
    void ctrlCInTrainWritesTheCheckpoint() throws Exception {
        assumeSigintReachesChildren();
        Path ckpt = dir.resolve("c.ckpt");
        String javaBin = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "io.github.tokenbutler.tools.Main",
                "train", "--model", SharedData.require("models/stories260K/stories260K.gguf").toString(),
                "--text", SharedData.require("data/tinystories/valid.txt").toString(), "--out", dir.resolve("p.gguf").toString(),
                "--steps", "100000", "--batch", "2", "--seq-len", "64", "--checkpoint", ckpt.toString(), "--checkpoint-every", "100000"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        StringBuffer log = new StringBuffer();
        Thread reader = new Thread(() -> {
            try (var in = p.getInputStream()) {
                byte[] buf = new byte[4096];
                for (int n; (n = in.read(buf)) > 0; ) log.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            } catch (IOException ignored) { /* the process ended */ }
        });
        reader.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!log.toString().contains("train: 1/")) {
                assertTrue(p.isAlive(), "train ended early: " + log);
                assertTrue(System.nanoTime() < deadline, "train did not start in 60 s: " + log);
                Thread.sleep(50);
            }
            Thread.sleep(500);
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "train did not stop after SIGINT");
        } finally {
            p.destroyForcibly();
        }
        reader.join(5000);
        assertEquals(130, p.exitValue(), log.toString());
        assertTrue(Files.isRegularFile(ckpt), "checkpoint written: " + log);
        assertFalse(log.toString().contains("internal error"), log.toString());
        assertFalse(hasTemporary(dir), "no temporary file left");
    }

    /**
     * A shell without job control starts background commands (`cmd &`, `nohup ... &`) with SIGINT ignored, children
     * inherit that, and a JVM keeps an ignored SIGINT ignored: no Ctrl-C can reach the commands under test then, so the
     * SIGINT cases are skipped with the reason instead of failing on the environment.
     */
    private static void assumeSigintReachesChildren() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) return;
        for (String line : Files.readAllLines(status)) {
            if (!line.startsWith("SigIgn:")) continue;
            long ignored = Long.parseUnsignedLong(line.substring("SigIgn:".length()).trim(), 16);
            assumeFalse((ignored & (1L << (2 - 1))) != 0, // bit s-1 of the mask is signal s; SIGINT is 2
                    "SIGINT is ignored by this test JVM (started in the background by a shell without job control, e.g."
                            + " 'nohup ... &'), so its children cannot receive Ctrl-C; run the tests in the foreground to check it");
        }
    }

    private static boolean hasTemporary(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.anyMatch(f -> f.getFileName().toString().endsWith(".tmp"));
        }
    }
}
