package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Arrays;
import java.util.Collection;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What {@code quantize --type NAME} makes of a file's 2-D weights: one GGML type for every matrix, or for
 * the "_M" mixes, the type llama.cpp's quantizer picks for each tensor (llama_tensor_get_type_impl in
 * src/llama-quant.cpp, for a llama model without experts):
 * <ul>
 *   <li>the output matrix (output.weight, or token_embd.weight when the file has no output.weight and
 *       the embeddings serve as output) is Q6_K;</li>
 *   <li>attn_v and ffn_down of layer i of n are Q6_K when {@link #usesMoreBits(int, int)} (the first and
 *       last eighth of the layers, and every third layer in between);</li>
 *   <li>everything else is the mix's base type (Q4_K for Q4_K_M, Q5_K for Q5_K_M).</li>
 * </ul>
 * Rows that do not split into the chosen type's blocks of 256 fall back to Q8_0 ({@link #fitRows}); llama.cpp
 * picks Q5_0 / Q5_1 for Q4_K / Q5_K there, types this runtime does not decode, and Q8_0 for Q6_K.
 *
 * <p>general.file_type is llama.cpp's llama_ftype of the mix (include/llama.h): a single-type K mix is labelled
 * as llama.cpp's "_S" file type, which is what {@code llama-quantize --pure Q4_K_S} (or Q5_K_S) writes: every
 * matrix in the base type.
 */
public enum QuantMix {
    Q8_0(GGMLType.Q8_0, 7, false),     // LLAMA_FTYPE_MOSTLY_Q8_0
    Q4_0(GGMLType.Q4_0, 2, false),     // LLAMA_FTYPE_MOSTLY_Q4_0
    Q4_1(GGMLType.Q4_1, 3, false),     // LLAMA_FTYPE_MOSTLY_Q4_1
    Q4_K(GGMLType.Q4_K, 14, false),    // LLAMA_FTYPE_MOSTLY_Q4_K_S
    Q5_K(GGMLType.Q5_K, 16, false),    // LLAMA_FTYPE_MOSTLY_Q5_K_S
    Q6_K(GGMLType.Q6_K, 18, false),    // LLAMA_FTYPE_MOSTLY_Q6_K
    Q4_K_M(GGMLType.Q4_K, 15, true),   // LLAMA_FTYPE_MOSTLY_Q4_K_M
    Q5_K_M(GGMLType.Q5_K, 17, true);   // LLAMA_FTYPE_MOSTLY_Q5_K_M

    /** The type of most matrices. */
    public final GGMLType base;
    /** llama.cpp's llama_ftype, written as general.file_type. */
    public final int fileType;
    private final boolean medium;

    QuantMix(GGMLType base, int fileType, boolean medium) {
        this.base = base;
        this.fileType = fileType;
        this.medium = medium;
    }

    /** The names {@code --type} accepts, comma separated. */
    public static String names() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** The mix named {@code name} (any case); a {@link UserError} listing the names otherwise. */
    public static QuantMix parse(String name, String command) {
        for (QuantMix m : values()) if (m.name().equalsIgnoreCase(name)) return m;
        throw new UserError(command + ": option --type must be one of " + names() + ", got '" + name + "'");
    }

    /** The tensors of a file the rules look at: how many attn_v and ffn_down tensors, and whether output.weight exists. */
    public record Layout(int attnV, int ffnDown, boolean hasOutput) {
        public static Layout of(Collection<String> tensorNames) {
            int v = 0, down = 0;
            for (String n : tensorNames) {
                if (n.contains("." + LlamaGguf.ATTN_V + ".")) v++;
                if (n.contains("." + LlamaGguf.FFN_DOWN + ".")) down++;
            }
            return new Layout(v, down, tensorNames.contains(LlamaGguf.OUTPUT));
        }
    }

    /** llama.cpp's use_more_bits: i &lt; n/8, i &gt;= 7n/8, or (i - n/8) % 3 == 2 (integer division). */
    public static boolean usesMoreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    private static final Pattern LAYER = Pattern.compile("^blk\\.(\\d+)\\.");

    /** The type this mix wants for the 2-D tensor {@code name}, before {@link #fitRows}. */
    public GGMLType preferred(String name, Layout layout) {
        if (!medium) return base;
        boolean output = name.equals(LlamaGguf.OUTPUT) || (!layout.hasOutput() && name.equals(LlamaGguf.TOKEN_EMBD));
        if (output) return GGMLType.Q6_K;
        Matcher m = LAYER.matcher(name);
        if (m.find()) {
            int layer = Integer.parseInt(m.group(1));
            if (name.contains("." + LlamaGguf.ATTN_V + ".") && usesMoreBits(layer, layout.attnV())) return GGMLType.Q6_K;
            if (name.contains("." + LlamaGguf.FFN_DOWN + ".") && usesMoreBits(layer, layout.ffnDown())) return GGMLType.Q6_K;
        }
        return base;
    }

    /**
     * {@code type} if rows of {@code rowLength} split into its blocks; Q8_0 for a 256-value K type whose rows
     * split into 32s; null when neither (the tensor stays as it is).
     */
    public static GGMLType fitRows(GGMLType type, long rowLength) {
        if (rowLength % type.blockSize == 0) return type;
        if (type.blockSize == 256 && rowLength % GGMLType.Q8_0.blockSize == 0) return GGMLType.Q8_0;
        return null;
    }

    @Override public String toString() { return name(); }
}
