package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Attention of one or more query heads over a list of key positions: gather the K rows, scaled dot products,
 * softmax, weighted sum of the gathered V rows. The attention weights stay in the caller's buffer (H2O adds
 * them up).
 *
 * <p>The arithmetic is {@link DenseAttention#attendHead}'s, step for step, so that the full index list gives
 * dense attention bit for bit: logits {@code VectorMath.dot(q, k) * (1/sqrt(headSize))} in index order, the
 * running maximum with a strict {@code >}, {@code (float) Math.exp(s - max)} summed in index order, weights
 * {@code e / sum}, and the output accumulated with {@link VectorMath#axpy} in index order. The vector work is
 * in VectorMath's dot and axpy (the runtime's, so both sides share their reduction order) and in the division
 * by the sum below (an exact IEEE operation, lane by lane). The exponentials stay scalar {@code Math.exp}: a
 * faster approximation would break the equality with dense.
 *
 * <p>What is faster than calling {@code attendHead} once per head: the heads of a KV group that share one
 * selection are processed together, so each gathered K and V row is read from memory once for the group
 * (each head's arithmetic is unchanged: per output element the additions still come in index order).
 */
public final class SparseAttentionKernel {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private SparseAttentionKernel() {}

    /**
     * Heads h = 0..heads-1, all attending the same key positions.
     * @param qOff         query of head h at q[qOff + h*headSize ..]
     * @param kvOff        offset of the heads' KV head inside a cache row (kvHead * headSize)
     * @param indices      key positions, ascending; indices[0..count)
     * @param weights      receives head h's attention weights at weights[h*weightStride + j], j < count
     * @param weightStride at least count
     * @param outOff       output of head h at out[outOff + h*headSize ..] (overwritten)
     */
    public static void attend(float[] q, int qOff, int heads, float[] keyCache, float[] valueCache, int kvDim, int kvOff,
                              int headSize, int[] indices, int count, float[] weights, int weightStride, float[] out, int outOff) {
        if (count > weightStride) throw new IllegalArgumentException("weightStride " + weightStride + " is below count " + count);
        float scale = (float) (1.0 / Math.sqrt(headSize));
        for (int j = 0; j < count; j++) {
            int kOff = indices[j] * kvDim + kvOff;
            for (int h = 0; h < heads; h++) {
                weights[h * weightStride + j] = VectorMath.dot(q, qOff + h * headSize, keyCache, kOff, headSize) * scale;
            }
        }
        for (int h = 0; h < heads; h++) {
            softmaxInPlace(weights, h * weightStride, count);
            java.util.Arrays.fill(out, outOff + h * headSize, outOff + (h + 1) * headSize, 0f);
        }
        for (int j = 0; j < count; j++) {
            int vOff = indices[j] * kvDim + kvOff;
            for (int h = 0; h < heads; h++) {
                VectorMath.axpy(weights[h * weightStride + j], valueCache, vOff, out, outOff + h * headSize, headSize);
            }
        }
    }

    /** Logits w[off..off+count) become softmax weights, with DenseAttention's operation order. */
    static void softmaxInPlace(float[] w, int off, int count) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < count; j++) {
            float s = w[off + j];
            if (s > max) max = s;
        }
        float sum = 0f;
        for (int j = 0; j < count; j++) {
            float e = (float) Math.exp(w[off + j] - max);
            w[off + j] = e;
            sum += e;
        }
        int j = 0;
        int vectorEnd = SPECIES.loopBound(count);
        for (; j < vectorEnd; j += SPECIES.length()) {
            FloatVector.fromArray(SPECIES, w, off + j).div(sum).intoArray(w, off + j);
        }
        for (; j < count; j++) w[off + j] = w[off + j] / sum;
    }
}
