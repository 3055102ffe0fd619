package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import io.github.tokenbutler.tools.GgufLayout.Field;
import io.github.tokenbutler.tools.GgufLayout.Kind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Mutation fuzzing of the file readers, in-process: seeded mutations of stories260K.gguf and of its
 * predictor, each written to a file and then read (GGUF.read and inspect's text and JSON), loaded (Model.load,
 * or the tokenbutler hook with the predictor) and run for a few tokens. Every outcome must be a success with
 * finite logits or a {@link UserError}; any other exception, an Error (OutOfMemoryError included) or
 * non-finite logits is a failure, reported with the case's seed.
 *
 * <p>The mutation classes follow llama.cpp's test-gguf corruptions (bad magic, version, counts, key and string
 * lengths, value types, alignment, dimensions, tensor types and offsets, duplicate names, truncated data) plus
 * metadata values set to edge values (0, -1, 2^31, 2^63, NaN, Inf, 1e30), swapped tensor infos, NaN and Inf in
 * tensor data, and random bit flips, byte runs and truncations.
 *
 * <p>Replay: {@code mvn -pl gguf-tools test -Dtest=GgufFuzzTest -Dtokenbutler.fuzz.case=model:SEED} runs that one
 * case; {@code -Dtokenbutler.fuzz.seed=N} another campaign; {@code -Dtokenbutler.fuzz.cases=N} per file;
 * {@code -Dtokenbutler.fuzz.show=true} prints each refused case with its message.
 */
class GgufFuzzTest {
    private static final long SEED = Long.getLong("tokenbutler.fuzz.seed", 20261201L);
    private static final int CASES = Integer.getInteger("tokenbutler.fuzz.cases", 400);
    private static final String REPLAY = System.getProperty("tokenbutler.fuzz.case");
    /** -Dtokenbutler.fuzz.show=true prints every refused case with its message, to read them. */
    private static final boolean SHOW = Boolean.getBoolean("tokenbutler.fuzz.show");

    @TempDir Path dir;

    private enum Target { model, predictor }

    record Mutant(byte[] bytes, String description) {}

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void mutatedFilesGiveASuccessOrOneUserError() throws Exception {
        Path modelPath = SharedData.require("models/stories260K/stories260K.gguf");
        Path predictorPath = SharedData.testModel("stories260K.butler.gguf");
        byte[] modelBytes = Files.readAllBytes(modelPath), predictorBytes = Files.readAllBytes(predictorPath);
        GgufLayout modelLayout = new GgufLayout(modelBytes), predictorLayout = new GgufLayout(predictorBytes);
        AttentionHook tokenbutler = Llama3.attentionHooks().get("tokenbutler");
        List<String> failures = new ArrayList<>();
        Map<String, Integer> counts = new TreeMap<>();
        long start = System.nanoTime();
        try (Model model = Model.load(modelPath, LoadOptions.defaults())) {
            for (Target target : Target.values()) {
                byte[] original = target == Target.model ? modelBytes : predictorBytes;
                GgufLayout layout = target == Target.model ? modelLayout : predictorLayout;
                SplittableRandom seeds = new SplittableRandom(SEED + target.ordinal());
                for (int i = 0; i < CASES; i++) {
                    long caseSeed = seeds.nextLong();
                    if (REPLAY != null && !REPLAY.equals(target + ":" + caseSeed)) continue;
                    Mutant m = mutate(original, layout, new Random(caseSeed));
                    Path file = dir.resolve(target + "-" + i + ".gguf");
                    Files.write(file, m.bytes());
                    String outcome;
                    try {
                        if (target == Target.model) runModel(file);
                        else runPredictor(file, model, tokenbutler);
                        outcome = "success";
                    } catch (UserError e) {
                        outcome = "user error";
                        if (SHOW) System.out.println("case " + target + ":" + caseSeed + " " + m.description() + "\n    error: " + e.getMessage());
                        if (!printable(e.getMessage())) {
                            outcome = "unescaped message";
                            failures.add(target + ":" + caseSeed + " " + m.description() + " -> message with raw control bytes: " + e.getMessage());
                        }
                    } catch (Throwable t) {
                        outcome = "FAILURE " + t.getClass().getSimpleName();
                        StackTraceElement top = t.getStackTrace().length > 0 ? t.getStackTrace()[0] : null;
                        failures.add(target + ":" + caseSeed + " " + m.description() + " -> " + t + (top != null ? " at " + top : ""));
                    }
                    counts.merge(target + " " + m.description().split(" ")[0] + " -> " + outcome, 1, Integer::sum);
                    Files.delete(file);
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        StringBuilder report = new StringBuilder(String.format("fuzz campaign seed %d, %d cases per file, %.1f s:%n", SEED, CASES, seconds));
        Map<String, Integer> totals = new TreeMap<>();
        counts.forEach((k, v) -> totals.merge(k.substring(0, k.indexOf(' ')) + " ->" + k.substring(k.indexOf("->") + 2), v, Integer::sum));
        totals.forEach((k, v) -> report.append(String.format("  %-40s %5d%n", k, v)));
        report.append("per mutation class:\n");
        counts.forEach((k, v) -> report.append(String.format("  %-60s %5d%n", k, v)));
        System.out.print(report);
        if (!failures.isEmpty()) {
            fail(failures.size() + " mutated files ended in neither a success nor a user error (replay one with -Dtokenbutler.fuzz.case=TARGET:SEED):\n  "
                    + String.join("\n  ", failures.subList(0, Math.min(20, failures.size()))));
        }
        if (REPLAY == null) assertTrue(totals.keySet().stream().anyMatch(k -> k.endsWith("user error")), "no mutation was refused: " + totals);
    }

    private static final PrintStream DISCARD = new PrintStream(OutputStream.nullOutputStream());

    /** What `inspect` and `run` do with a model file, in-process. */
    private static void runModel(Path file) {
        try (GGUF g = GGUF.read(file)) {
            long size = g.dataOffset();
            InspectCommand.text(g, size, false, DISCARD);
            InspectCommand.json(g, size, true);
        }
        try (Model m = Model.load(file, LoadOptions.defaults())) {
            int[] prompt = m.hasTokenizer() ? m.tokenizer().encode("Once upon a time") : new int[] {1, 2, 3};
            if (prompt.length == 0) prompt = new int[] {1};
            decode(m, m.newState(null), prompt);
        }
    }

    /** What `run --attention tokenbutler` does with a predictor file, on the intact model. */
    private static void runPredictor(Path file, Model model, AttentionHook hook) {
        try (GGUF g = GGUF.read(file)) {
            InspectCommand.text(g, g.dataOffset(), false, DISCARD);
        }
        try (AttentionHook.Attention attention = hook.open(model.info(), Map.of("predictor", file.toString()))) {
            decode(model, model.newState(attention), new int[] {1, 403, 407, 261, 378, 442, 269, 260});
        }
    }

    /** The prompt, then up to three greedy tokens, as far as the context allows; every logit must be finite. */
    private static void decode(Model m, State state, int[] prompt) {
        int context = m.config().contextLength();
        int n = Math.max(1, Math.min(prompt.length, context - 3));
        float[] logits = m.forward(state, prompt, 0, n, 0, false);
        for (int step = 0; step < Math.min(3, context - n); step++) {
            for (float v : logits) if (!Float.isFinite(v)) throw new AssertionError("non-finite logit " + v + " returned without an error");
            int best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            logits = m.forward(state, new int[] {best}, 0, 1, n + step, false);
        }
    }

    private static boolean printable(String message) {
        return message.chars().noneMatch(c -> c < 0x20 || c == 0x7f);
    }

    // --- mutations -------------------------------------------------------------------------------------------

    private static final long[] EDGE_U64 = {0, 1, 2, 7, 255, 0x7fffffffL, 0x80000000L, 0xffffffffL, 0x100000000L,
            1L << 40, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE, -1L};
    private static final int[] EDGE_U32 = {0, 1, 2, 3, 4, 5, 13, 31, 255, 0x7fffffff, 0x80000000, -1};
    private static final float[] EDGE_F32 = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, -1f,
            1e30f, 1e-30f, Float.MIN_VALUE, Float.MAX_VALUE, 1f, 1e9f};
    private static final byte[] ODD_BYTES = {0x00, 0x0a, 0x0d, 0x1b, 0x7f, (byte) 0xff, (byte) 0xc3, (byte) 0x80};

    private static final Kind[] FIELD_KINDS = Kind.values();

    static Mutant mutate(byte[] original, GgufLayout layout, Random r) {
        byte[] b = original.clone();
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int header = (int) layout.dataOffset;
        int choice = r.nextInt(100);
        if (choice < 55) {
            // One field of the structure set to an edge value.
            Kind kind = FIELD_KINDS[r.nextInt(FIELD_KINDS.length)];
            List<Field> fields = layout.fields(kind);
            if (fields.isEmpty()) return mutate(original, layout, r);
            Field f = fields.get(r.nextInt(fields.size()));
            String what = kind + " of " + f.owner() + " @" + f.offset();
            switch (kind) {
                case KEY_BYTES, STRING_BYTES, TENSOR_NAME_BYTES, MAGIC -> {
                    if (f.width() == 0) return mutate(original, layout, r);
                    byte v = ODD_BYTES[r.nextInt(ODD_BYTES.length)];
                    b[f.offset() + r.nextInt(f.width())] = v;
                    return new Mutant(b, what + " byte := 0x" + Integer.toHexString(v & 0xff));
                }
                case SCALAR -> {
                    return scalar(b, buf, f, r, what);
                }
                default -> {
                    if (f.width() == 8) {
                        long old = buf.getLong(f.offset());
                        long v = switch (r.nextInt(4)) {
                            case 0 -> old + 1;
                            case 1 -> old - 1;
                            case 2 -> old * 2;
                            default -> EDGE_U64[r.nextInt(EDGE_U64.length)];
                        };
                        if (kind == Kind.TENSOR_OFFSET && r.nextInt(3) == 0) v = otherOffset(buf, layout, r, old, b.length);
                        buf.putLong(f.offset(), v);
                        return new Mutant(b, what + " := " + Long.toUnsignedString(v));
                    }
                    int old = buf.getInt(f.offset());
                    int v = switch (r.nextInt(3)) {
                        case 0 -> old + 1 + r.nextInt(3);
                        case 1 -> old - 1;
                        default -> EDGE_U32[r.nextInt(EDGE_U32.length)];
                    };
                    buf.putInt(f.offset(), v);
                    return new Mutant(b, what + " := " + Integer.toUnsignedString(v));
                }
            }
        }
        if (choice < 62) return swapNames(b, layout, r, r.nextBoolean());
        if (choice < 65) return duplicateKey(b, layout, r);
        if (choice < 72) {
            int flips = 1 + r.nextInt(8);
            int limit = r.nextInt(4) == 0 ? b.length : header;
            for (int i = 0; i < flips; i++) {
                int at = r.nextInt(limit);
                b[at] ^= (byte) (1 << r.nextInt(8));
            }
            return new Mutant(b, "BIT_FLIPS x" + flips + (limit == header ? " in the header" : " anywhere"));
        }
        if (choice < 79) {
            int at = r.nextInt(header), len = 1 + r.nextInt(16);
            int mode = r.nextInt(3);
            for (int i = at; i < Math.min(b.length, at + len); i++) b[i] = mode == 0 ? 0 : mode == 1 ? (byte) 0xff : (byte) r.nextInt();
            return new Mutant(b, "BYTE_RUN of " + len + " @" + at + (mode == 0 ? " zeros" : mode == 1 ? " 0xff" : " random"));
        }
        if (choice < 86) {
            int len = r.nextInt(4) == 0 ? r.nextInt(header) : r.nextInt(b.length);
            return new Mutant(Arrays.copyOf(b, len), "TRUNCATE to " + len + " of " + b.length);
        }
        if (choice < 88) {
            byte[] longer = Arrays.copyOf(b, b.length + 1 + r.nextInt(4096));
            for (int i = b.length; i < longer.length; i++) longer[i] = (byte) r.nextInt();
            return new Mutant(longer, "APPEND " + (longer.length - b.length) + " random bytes");
        }
        // Tensor data: a non-finite F32 value, or one 0xff byte (the top byte of a float: NaN or a huge value).
        GgufLayout.Tensor t = layout.tensors.get(r.nextInt(layout.tensors.size()));
        int element = r.nextInt((int) (t.dataBytes() / 4));
        int at = (int) t.dataStart() + 4 * element;
        if (choice < 94) {
            float v = EDGE_F32[r.nextInt(3)];
            buf.putFloat(at, v);
            return new Mutant(b, "DATA " + t.name() + "[" + element + "] := " + v);
        }
        b[at + 3] = (byte) 0xff;
        return new Mutant(b, "DATA_BYTE " + t.name() + "[" + element + "] top byte := 0xff");
    }

    private static Mutant scalar(byte[] b, ByteBuffer buf, Field f, Random r, String what) {
        switch (f.valueType()) {
            case 6 -> { // FLOAT32
                float v = EDGE_F32[r.nextInt(EDGE_F32.length)];
                buf.putFloat(f.offset(), v);
                return new Mutant(b, what + " := " + v);
            }
            case 12 -> { // FLOAT64
                double v = EDGE_F32[r.nextInt(EDGE_F32.length)];
                buf.putDouble(f.offset(), v);
                return new Mutant(b, what + " := " + v);
            }
            case 7 -> { // BOOL
                byte v = (byte) (2 + r.nextInt(254));
                b[f.offset()] = v;
                return new Mutant(b, what + " := bool " + v);
            }
            default -> {
                long v = EDGE_U64[r.nextInt(EDGE_U64.length)];
                switch (f.width()) {
                    case 1 -> b[f.offset()] = (byte) v;
                    case 2 -> buf.putShort(f.offset(), (short) v);
                    case 4 -> buf.putInt(f.offset(), (int) v);
                    default -> buf.putLong(f.offset(), v);
                }
                return new Mutant(b, what + " := " + Long.toUnsignedString(v) + " (" + f.width() + " bytes)");
            }
        }
    }

    /** Another tensor's data offset, or the end of the file: overlapping or empty data. */
    private static long otherOffset(ByteBuffer buf, GgufLayout layout, Random r, long old, long fileLength) {
        if (r.nextBoolean()) return fileLength - layout.dataOffset;
        GgufLayout.Tensor other = layout.tensors.get(r.nextInt(layout.tensors.size()));
        return buf.getLong(other.offsetField()) == old ? old + 32 : buf.getLong(other.offsetField());
    }

    /** Two tensors of equal name length: their names swapped (swapped infos) or the first copied over the second (a duplicate). */
    private static Mutant swapNames(byte[] b, GgufLayout layout, Random r, boolean swap) {
        List<GgufLayout.Tensor> ts = layout.tensors;
        for (int tries = 0; tries < 100; tries++) {
            GgufLayout.Tensor x = ts.get(r.nextInt(ts.size())), y = ts.get(r.nextInt(ts.size()));
            if (x == y || x.nameLength() != y.nameLength()) continue;
            byte[] xn = Arrays.copyOfRange(b, x.nameOffset(), x.nameOffset() + x.nameLength());
            if (swap) System.arraycopy(b, y.nameOffset(), b, x.nameOffset(), y.nameLength());
            System.arraycopy(xn, 0, b, y.nameOffset(), xn.length);
            return new Mutant(b, (swap ? "SWAP_TENSOR_NAMES " : "DUPLICATE_TENSOR_NAME ") + x.name() + " / " + y.name());
        }
        return new Mutant(b, "SWAP_TENSOR_NAMES none of equal length");
    }

    private static Mutant duplicateKey(byte[] b, GgufLayout layout, Random r) {
        List<Field> keys = layout.fields(Kind.KEY_BYTES);
        for (int tries = 0; tries < 200; tries++) {
            Field x = keys.get(r.nextInt(keys.size())), y = keys.get(r.nextInt(keys.size()));
            if (x == y || x.width() != y.width()) continue;
            System.arraycopy(b, x.offset(), b, y.offset(), x.width());
            return new Mutant(b, "DUPLICATE_KEY " + x.owner() + " over " + y.owner());
        }
        return new Mutant(b, "DUPLICATE_KEY none of equal length");
    }
}
