package io.github.tokenbutler.gguf;

import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;
import io.github.tokenbutler.runtime.Llama3.GGMLType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ForkJoinPool;

/**
 * Deterministic random-weight llama models: the same hyperparameters, type and seed give a byte-identical
 * file on any machine and with any number of threads, because every row draws from its own generator
 * seeded by (seed, tensor index, row index).
 *
 * <p>Weights are "normal-ish" (a sum of four uniforms, unit variance, bounded at ±3.5σ), scaled so
 * activations stay near unit size through the stack: query/key/value/gate/up matrices and the embeddings
 * use σ = 1/√fan_in (for the 1B preset 1/√2048 ≈ 0.022, the usual 0.02 init), the residual projections
 * (attn_output, ffn_down) an extra 1/√(2·layers) as in GPT-2's init. Norm weights are 1.0.
 *
 * <p>Tensors are generated and quantized while the file is written, a chunk of rows at a time on all
 * cores, so a 1B model needs only a few megabytes of heap.
 */
public final class SynthModel {
    private SynthModel() {}

    /** A shape with another vocabulary size (synth --vocab). */
    public static Hyperparameters withVocab(Hyperparameters h, int vocab) {
        return new Hyperparameters(h.name(), h.dim(), h.ffn(), h.layers(), h.heads(), h.kvHeads(), vocab, h.context(), h.ropeTheta(),
                h.rmsNormEps(), h.tiedEmbeddings());
    }

    /** Named shapes. {@code llama-3.2-1b} matches Meta's Llama 3.2 1B (tied embeddings, no output.weight). */
    public static final Map<String, Hyperparameters> PRESETS;

    static {
        Map<String, Hyperparameters> m = new LinkedHashMap<>();
        m.put("llama-3.2-1b", new Hyperparameters("synth-llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, 131072, 500000f, 1e-5f, true));
        m.put("tiny", new Hyperparameters("synth-tiny", 64, 192, 2, 4, 2, 300, 256, 10000f, 1e-5f, false));
        m.put("tiny-mha", new Hyperparameters("synth-tiny-mha", 64, 192, 2, 4, 4, 300, 256, 10000f, 1e-5f, true));
        // Rows of 256 so the Q6_K output/embedding of --type Q4_0 is exercised (Q6_K blocks hold 256 values).
        m.put("tiny-256", new Hyperparameters("synth-tiny-256", 256, 256, 1, 4, 2, 300, 256, 10000f, 1e-5f, true));
        PRESETS = Collections.unmodifiableMap(m);
    }

    /** Matrix types {@code synth --type} accepts: a float type, or a {@link QuantMix} name (Q8_0 ... Q5_K_M). */
    public static final List<String> TYPES;

    static {
        List<String> t = new ArrayList<>(List.of("F32", "F16"));
        for (QuantMix m : QuantMix.values()) t.add(m.name());
        TYPES = List.copyOf(t);
    }

    /** One tensor of the plan: norms have std 0 (all ones). */
    public record PlannedTensor(String name, long[] shape, GGMLType type, float std) {}

    public static List<PlannedTensor> plan(Hyperparameters h, GGMLType matrixType, List<String> notes) {
        return plan(h, matrixType.name(), notes);
    }

    /**
     * Which tensor gets which type. With Q4_0 and Q4_1, the output matrix (output.weight, or token_embd when tied)
     * is Q6_K, as llama.cpp's quantizer does for Q4_0 files; the K-quant names follow {@link QuantMix} (Q4_K_M and
     * Q5_K_M: llama.cpp's mix). K-quant blocks need rows that are a multiple of 256, and llama.cpp falls back to
     * Q8_0 for Q6_K otherwise, so this does for every K type. Matrices whose rows are not a multiple of 32 stay F32.
     * Each such decision adds a line to {@code notes}.
     */
    public static List<PlannedTensor> plan(Hyperparameters h, String typeName, List<String> notes) {
        if (!TYPES.contains(typeName)) throw new IllegalArgumentException("synth writes " + TYPES + ", not " + typeName);
        QuantMix mix = typeName.equals("F32") || typeName.equals("F16") ? null : QuantMix.valueOf(typeName);
        GGMLType matrixType = mix == null ? GGMLType.valueOf(typeName) : null;
        QuantMix.Layout layout = new QuantMix.Layout(h.layers(), h.layers(), !h.tiedEmbeddings());
        List<PlannedTensor> p = new ArrayList<>();
        int dim = h.dim(), qDim = h.heads() * h.headSize(), kvDim = h.kvDim();
        float inDim = (float) (1 / Math.sqrt(dim));
        float residual = (float) (1 / Math.sqrt(2.0 * h.layers()));
        String outputMatrix = h.tiedEmbeddings() ? LlamaGguf.TOKEN_EMBD : LlamaGguf.OUTPUT;
        p.add(matrix(LlamaGguf.TOKEN_EMBD, dim, h.vocab(), inDim, matrixType, mix, layout, outputMatrix, notes));
        for (int l = 0; l < h.layers(); l++) {
            p.add(norm(LlamaGguf.block(l, LlamaGguf.ATTN_NORM), dim));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.ATTN_Q), dim, qDim, inDim, matrixType, mix, layout, outputMatrix, notes));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.ATTN_K), dim, kvDim, inDim, matrixType, mix, layout, outputMatrix, notes));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.ATTN_V), dim, kvDim, inDim, matrixType, mix, layout, outputMatrix, notes));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.ATTN_OUTPUT), qDim, dim, (float) (residual / Math.sqrt(qDim)), matrixType, mix, layout, outputMatrix, notes));
            p.add(norm(LlamaGguf.block(l, LlamaGguf.FFN_NORM), dim));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.FFN_GATE), dim, h.ffn(), inDim, matrixType, mix, layout, outputMatrix, notes));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.FFN_UP), dim, h.ffn(), inDim, matrixType, mix, layout, outputMatrix, notes));
            p.add(matrix(LlamaGguf.block(l, LlamaGguf.FFN_DOWN), h.ffn(), dim, (float) (residual / Math.sqrt(h.ffn())), matrixType, mix, layout, outputMatrix, notes));
        }
        p.add(norm(LlamaGguf.OUTPUT_NORM, dim));
        if (!h.tiedEmbeddings()) p.add(matrix(LlamaGguf.OUTPUT, dim, h.vocab(), inDim, matrixType, mix, layout, outputMatrix, notes));
        return p;
    }

    private static PlannedTensor norm(String name, int n) {
        return new PlannedTensor(name, new long[] {n}, GGMLType.F32, 0f);
    }

    /** The type of one matrix: matrixType for a float file, else the mix's choice. */
    private static PlannedTensor matrix(String name, int rowLength, int rows, float std, GGMLType matrixType, QuantMix mix,
                                        QuantMix.Layout layout, String outputMatrix, List<String> notes) {
        GGMLType t;
        if (mix == null) {
            t = matrixType;
        } else if ((mix == QuantMix.Q4_0 || mix == QuantMix.Q4_1) && name.equals(outputMatrix)) {
            t = GGMLType.Q6_K;
        } else {
            t = mix.preferred(name, layout);
        }
        GGMLType fitted = QuantMix.fitRows(t, rowLength);
        if (fitted == null) {
            notes.add(name + ": F32 instead of " + t + " (row length " + rowLength + " is not a multiple of " + GGMLType.Q8_0.blockSize + ")");
            t = GGMLType.F32;
        } else if (fitted != t) {
            notes.add(name + ": " + fitted + " instead of " + t + " (row length " + rowLength + " is not a multiple of 256)");
            t = fitted;
        }
        return new PlannedTensor(name, new long[] {rowLength, rows}, t, std);
    }

    /**
     * Writes the model to {@code out} (atomically) and returns the notes about tensors whose type differs
     * from {@code matrixType}.
     */
    public static List<String> write(Hyperparameters h, String presetName, GGMLType matrixType, long seed, Path out) {
        return write(h, presetName, matrixType, seed, out, GgufWriter.Progress.NONE);
    }

    public static List<String> write(Hyperparameters h, String presetName, GGMLType matrixType, long seed, Path out, GgufWriter.Progress progress) {
        return write(h, presetName, matrixType.name(), seed, SpmVocab.synthetic(h.vocab()), null, out, progress);
    }

    public static List<String> write(Hyperparameters h, String presetName, GGMLType matrixType, long seed, TokenizerKeys vocab,
                                     String chatTemplate, Path out, GgufWriter.Progress progress) {
        return write(h, presetName, matrixType.name(), seed, vocab, chatTemplate, out, progress);
    }

    /**
     * A model whose tokenizer keys come from {@code vocab} (its size must be h's vocab), with
     * tokenizer.chat_template set to {@code chatTemplate} when that is not null (replacing the vocabulary's).
     */
    public static List<String> write(Hyperparameters h, String presetName, String typeName, long seed, TokenizerKeys vocab,
                                     String chatTemplate, Path out, GgufWriter.Progress progress) {
        h.validate("synth");
        if (vocab.size() != h.vocab()) throw new IllegalArgumentException("vocabulary of " + vocab.size() + " tokens for a model of " + h.vocab());
        List<String> notes = new ArrayList<>();
        List<PlannedTensor> plan = plan(h, typeName, notes);
        GgufWriter w = new GgufWriter();
        boolean isFloat = typeName.equals("F32") || typeName.equals("F16");
        LlamaGguf.putHyperparameters(w, h, isFloat ? LlamaGguf.fileType(GGMLType.valueOf(typeName)) : QuantMix.valueOf(typeName).fileType, !isFloat);
        w.putString("tokenbutler.synth.preset", presetName);
        w.putU64("tokenbutler.synth.seed", seed);
        vocab.putInto(w);
        if (chatTemplate != null) w.putString("tokenizer.chat_template", chatTemplate);
        try (ForkJoinPool pool = new ForkJoinPool(Runtime.getRuntime().availableProcessors())) {
            for (int i = 0; i < plan.size(); i++) {
                PlannedTensor t = plan.get(i);
                int tensorIndex = i;
                RowEncoder.RowSource rows = t.std() == 0f
                        ? (row, x) -> Arrays.fill(x, 1f)
                        : (row, x) -> fillRow(x, seed, tensorIndex, row, t.std());
                w.addTensor(t.name(), t.type(), t.shape(), RowEncoder.source(t.name(), t.type(), t.shape(), pool, rows));
            }
            w.write(out, progress);
        }
        return notes;
    }

    /**
     * Fills one row with values of standard deviation {@code std}. SplitMix64 over a per-row state; each
     * 64-bit draw gives four 16-bit uniforms whose sum (Irwin–Hall, n = 4) is close to a normal.
     */
    static void fillRow(float[] x, long seed, int tensorIndex, long row, float std) {
        long state = mix64(seed ^ mix64(((long) tensorIndex << 40) ^ row ^ 0x5DEECE66DL));
        // Sum of four uniforms on [0, 65535]: mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
        final float mean = 4 * 32767.5f;
        final float scale = (float) (std / Math.sqrt(4 * (65536.0 * 65536.0 - 1) / 12));
        for (int j = 0; j < x.length; j++) {
            state += 0x9E3779B97F4A7C15L;
            long z = mix64(state);
            long sum = (z & 0xFFFF) + ((z >>> 16) & 0xFFFF) + ((z >>> 32) & 0xFFFF) + (z >>> 48);
            x[j] = (sum - mean) * scale;
        }
    }

    /** SplitMix64's finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mix. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
