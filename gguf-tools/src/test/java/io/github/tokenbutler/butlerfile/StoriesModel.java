package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.ModelInfo;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.SharedData;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * stories260K for the predictor-file tests, read straight from its GGUF (shape, layer-0 attention inputs), so
 * the tests do not depend on the runtime's Model.load; and modified copies of it (other weights, another
 * vocabulary) to check that a predictor refuses a model it was not made for.
 */
final class StoriesModel {
    private StoriesModel() {}

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static Path path() { return SharedData.require("models/stories260K/stories260K.gguf"); }

    /** The runtime's ModelConfig rules applied to the metadata (no rope.freq_base means 10000). */
    static ModelConfig config(GGUF g) {
        int dim = (int) g.getLong("llama.embedding_length", -1), heads = (int) g.getLong("llama.attention.head_count", -1);
        String[] tokens = g.get("tokenizer.ggml.tokens");
        return new ModelConfig(dim, (int) g.getLong("llama.feed_forward_length", -1), (int) g.getLong("llama.block_count", -1),
                heads, (int) g.getLong("llama.attention.head_count_kv", heads), (int) g.getLong("llama.attention.key_length", dim / heads),
                tokens.length, (int) g.getLong("llama.context_length", 128), g.getFloat("llama.attention.layer_norm_rms_epsilon", 1e-5f),
                g.getFloat("llama.rope.freq_base", 10000f));
    }

    static ModelInfo info(GGUF g) { return new ModelInfo(config(g), g, null); }

    /** Layer-0 attention inputs [n][dim] of tokens 1, 38, 75, ... (token embedding, RMSNorm, blk.0.attn_norm). */
    static float[] layer0Inputs(GGUF g, int n) {
        ModelConfig c = config(g);
        MemorySegment emb = g.tensorData("token_embd.weight"), norm = g.tensorData("blk.0.attn_norm.weight");
        float[] x = new float[n * c.dim()];
        for (int t = 0; t < n; t++) {
            int token = (1 + 37 * t) % c.vocabSize();
            double ss = 0;
            for (int i = 0; i < c.dim(); i++) {
                float v = emb.getAtIndex(F32, (long) token * c.dim() + i);
                x[t * c.dim() + i] = v;
                ss += (double) v * v;
            }
            float inv = (float) (1.0 / Math.sqrt(ss / c.dim() + c.rmsNormEps()));
            for (int i = 0; i < c.dim(); i++) x[t * c.dim() + i] *= inv * norm.getAtIndex(F32, i);
        }
        return x;
    }

    /**
     * A copy of stories260K with changes: {@code metadata} edits the copied metadata, {@code tensor} may return
     * replacement F32 data for a tensor (or null to keep it).
     */
    static void copy(Path out, Consumer<GgufWriter> metadata, BiFunction<TensorInfo, float[], float[]> tensor) {
        try (GGUF g = GGUF.read(path())) {
            GgufWriter w = new GgufWriter(g.version());
            w.copyMetadata(g, k -> true);
            metadata.accept(w);
            for (TensorInfo t : g.tensors().values()) {
                float[] data = g.tensorData(t).toArray(F32);
                float[] replaced = tensor.apply(t, data);
                w.addTensor(t.name(), replaced != null ? replaced : data, t.shape());
            }
            w.write(out);
        }
    }
}
