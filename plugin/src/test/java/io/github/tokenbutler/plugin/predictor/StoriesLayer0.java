package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.SharedData;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Real layer-0 attention inputs of stories260K for TinyStories text, computed straight from the GGUF (token
 * embedding row, RMSNorm, times blk.0.attn_norm.weight: what the runtime hands the attention hook), so the
 * predictor tests do not depend on the runtime's forward pass. The text is tokenized by greedy longest match
 * over the SentencePiece pieces with byte fallback: not the exact SentencePiece segmentation, but real tokens
 * of real text.
 */
final class StoriesLayer0 {
    private StoriesLayer0() {}

    static GGUF open() {
        return GGUF.read(SharedData.require("models/stories260K/stories260K.gguf"));
    }

    /** The model's shape from its metadata (the runtime's ModelConfig rules: no rope.freq_base means 10000). */
    static ModelConfig config(GGUF g) {
        int dim = (int) g.getLong("llama.embedding_length", -1), heads = (int) g.getLong("llama.attention.head_count", -1);
        String[] tokens = g.get("tokenizer.ggml.tokens");
        return new ModelConfig(dim, (int) g.getLong("llama.feed_forward_length", -1), (int) g.getLong("llama.block_count", -1),
                heads, (int) g.getLong("llama.attention.head_count_kv", heads), (int) g.getLong("llama.attention.key_length", dim / heads),
                tokens.length, (int) g.getLong("llama.context_length", 128), g.getFloat("llama.attention.layer_norm_rms_epsilon", 1e-5f),
                g.getFloat("llama.rope.freq_base", 10000f));
    }

    /** BOS followed by the tokens of the start of the TinyStories validation text, n tokens in all. */
    static int[] tokens(GGUF g, int n) {
        String text;
        try {
            text = Files.readString(SharedData.require("data/tinystories/valid.txt"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String[] pieces = g.get("tokenizer.ggml.tokens");
        Map<String, Integer> ids = new HashMap<>();
        int longest = 0;
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(pieces[i], i);
            longest = Math.max(longest, pieces[i].length());
        }
        String s = "\u2581" + text.replace(' ', '\u2581');
        List<Integer> out = new ArrayList<>();
        out.add(1);
        int at = 0;
        while (out.size() < n && at < s.length()) {
            int found = -1, len = 0;
            for (int l = Math.min(longest, s.length() - at); l >= 1; l--) {
                Integer id = ids.get(s.substring(at, at + l));
                if (id != null) { found = id; len = l; break; }
            }
            if (found >= 0) {
                out.add(found);
                at += len;
            } else {
                for (byte b : s.substring(at, at + 1).getBytes(StandardCharsets.UTF_8)) {
                    Integer id = ids.get(String.format("<0x%02X>", b & 0xFF));
                    if (id != null && out.size() < n) out.add(id);
                }
                at++;
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** [tokens.length][dim] layer-0 attention inputs. */
    static float[] inputs(GGUF g, ModelConfig c, int[] tokens) {
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        var emb = g.tensorData("token_embd.weight");
        var norm = g.tensorData("blk.0.attn_norm.weight");
        int dim = c.dim();
        float[] x = new float[tokens.length * dim];
        for (int t = 0; t < tokens.length; t++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                float v = emb.getAtIndex(f32, (long) tokens[t] * dim + i);
                x[t * dim + i] = v;
                ss += (double) v * v;
            }
            float inv = (float) (1.0 / Math.sqrt(ss / dim + c.rmsNormEps()));
            for (int i = 0; i < dim; i++) x[t * dim + i] = x[t * dim + i] * inv * norm.getAtIndex(f32, i);
        }
        return x;
    }
}
