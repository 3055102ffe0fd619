package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * The llama architecture's GGUF names (llama.cpp's LLM_KV_* keys and LLM_TENSOR_* names) and shape rules,
 * shared by the converters and the synthetic model generator.
 */
public final class LlamaGguf {
    private LlamaGguf() {}

    /** The hyperparameters a llama GGUF declares. */
    public record Hyperparameters(String name, int dim, int ffn, int layers, int heads, int kvHeads, int vocab,
                                  int context, float ropeTheta, float rmsNormEps, boolean tiedEmbeddings) {
        public int headSize() { return dim / heads; }
        public int kvDim() { return kvHeads * headSize(); }

        /** Rejects shapes the runtime cannot run, naming the value and the rule. */
        public Hyperparameters validate(String what) {
            positive(what, "dim", dim);
            positive(what, "ffn (hidden dim)", ffn);
            positive(what, "layers", layers);
            positive(what, "heads", heads);
            positive(what, "kv heads", kvHeads);
            positive(what, "vocab", vocab);
            positive(what, "context", context);
            if (dim % heads != 0) throw new UserError(what + ": dim " + dim + " is not a multiple of heads " + heads);
            if (headSize() % 2 != 0) throw new UserError(what + ": head size dim/heads = " + headSize() + " must be even for RoPE");
            if (heads % kvHeads != 0) throw new UserError(what + ": heads " + heads + " is not a multiple of kv heads " + kvHeads);
            if (!(ropeTheta > 0) || !Float.isFinite(ropeTheta)) throw new UserError(what + ": rope theta must be a positive number, got " + ropeTheta);
            return this;
        }

        private static void positive(String what, String name, int v) {
            if (v <= 0) throw new UserError(what + ": " + name + " must be positive, got " + v);
        }
    }

    /** llama.cpp's llama_ftype for a file whose large matrices are of {@code type}. */
    public static int fileType(GGMLType type) {
        return switch (type) {
            case F32 -> 0;   // LLAMA_FTYPE_ALL_F32
            case F16 -> 1;   // LLAMA_FTYPE_MOSTLY_F16
            case Q4_0 -> 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
            case Q8_0 -> 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
            case BF16 -> 32; // LLAMA_FTYPE_MOSTLY_BF16
            default -> throw new IllegalArgumentException("no llama file type for " + type);
        };
    }

    /** general.* and llama.* keys. */
    public static void putHyperparameters(GgufWriter w, Hyperparameters h, GGMLType matrixType) {
        putHyperparameters(w, h, fileType(matrixType), matrixType != GGMLType.F32 && matrixType != GGMLType.F16 && matrixType != GGMLType.BF16);
    }

    /** general.* and llama.* keys, general.file_type a llama_ftype value (see {@link QuantMix#fileType}). */
    public static void putHyperparameters(GgufWriter w, Hyperparameters h, int fileType, boolean quantized) {
        w.putString("general.architecture", "llama");
        w.putString("general.name", h.name());
        w.putU32("general.file_type", fileType);
        if (quantized) {
            // ggml's GGML_QNT_VERSION: the block layouts of ggml-common.h as they have been since 2023.
            w.putU32("general.quantization_version", 2);
        }
        w.putU32("llama.context_length", h.context());
        w.putU32("llama.embedding_length", h.dim());
        w.putU32("llama.feed_forward_length", h.ffn());
        w.putU32("llama.block_count", h.layers());
        w.putU32("llama.attention.head_count", h.heads());
        w.putU32("llama.attention.head_count_kv", h.kvHeads());
        w.putU32("llama.rope.dimension_count", h.headSize());
        w.putF32("llama.rope.freq_base", h.ropeTheta());
        w.putF32("llama.attention.layer_norm_rms_epsilon", h.rmsNormEps());
        w.putU32("llama.vocab_size", h.vocab());
    }

    public static final String TOKEN_EMBD = "token_embd.weight";
    public static final String OUTPUT_NORM = "output_norm.weight";
    public static final String OUTPUT = "output.weight";

    /** blk.N.NAME.weight */
    public static String block(int layer, String name) { return "blk." + layer + "." + name + ".weight"; }

    public static final String ATTN_NORM = "attn_norm", ATTN_Q = "attn_q", ATTN_K = "attn_k", ATTN_V = "attn_v",
            ATTN_OUTPUT = "attn_output", FFN_NORM = "ffn_norm", FFN_GATE = "ffn_gate", FFN_UP = "ffn_up", FFN_DOWN = "ffn_down";
}
