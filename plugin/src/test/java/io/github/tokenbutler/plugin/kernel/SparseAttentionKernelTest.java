package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

class SparseAttentionKernelTest {
    /** Random caches [positions][kvHeads*headSize] and queries for `heads` heads of KV head 1. */
    private record Inputs(float[] q, float[] keys, float[] values, int kvDim, int kvOff) {}

    private static Inputs inputs(int positions, int heads, int headSize, long seed) {
        Random rnd = new Random(seed);
        int kvHeads = 2, kvDim = kvHeads * headSize;
        float[] q = new float[heads * headSize], k = new float[positions * kvDim], v = new float[positions * kvDim];
        for (int i = 0; i < q.length; i++) q[i] = (float) (2 * rnd.nextGaussian());
        for (int i = 0; i < k.length; i++) k[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
        return new Inputs(q, k, v, kvDim, headSize);
    }

    private static float[] sparse(Inputs in, int heads, int headSize, int[] idx, float[] weights) {
        float[] out = new float[heads * headSize];
        SparseAttentionKernel.attend(in.q, 0, heads, KvRows.wrap(in.keys, in.kvDim), KvRows.wrap(in.values, in.kvDim), in.kvOff, headSize, idx, idx.length,
                weights, idx.length, out, 0);
        return out;
    }

    private static float[] denseReference(Inputs in, int heads, int headSize, int[] idx) {
        float[] out = new float[heads * headSize];
        float[] scratch = new float[Math.max(1, idx == null ? 0 : idx.length)];
        for (int h = 0; h < heads; h++) {
            DenseAttention.attendHead(in.q, h * headSize, KvRows.wrap(in.keys, in.kvDim), KvRows.wrap(in.values, in.kvDim), in.kvOff, headSize,
                    idx, idx.length, scratch, out, h * headSize);
        }
        return out;
    }

    /** Softmax attention in double precision over the given positions: the tolerance reference. */
    private static double[] exact(Inputs in, int h, int headSize, int[] idx) {
        double[] s = new double[idx.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < idx.length; j++) {
            double dot = 0;
            for (int c = 0; c < headSize; c++) dot += (double) in.q[h * headSize + c] * in.keys[idx[j] * in.kvDim + in.kvOff + c];
            s[j] = dot / Math.sqrt(headSize);
            max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < idx.length; j++) sum += (s[j] = Math.exp(s[j] - max));
        double[] out = new double[headSize];
        for (int j = 0; j < idx.length; j++) {
            for (int c = 0; c < headSize; c++) out[c] += s[j] / sum * in.values[idx[j] * in.kvDim + in.kvOff + c];
        }
        return out;
    }

    @Test
    void everyVisiblePositionGivesDenseAttentionBitForBit() {
        for (int headSize : new int[]{8, 64, 72}) {
            for (int positions : new int[]{1, 2, 7, 100, 1000}) {
                for (int heads : new int[]{1, 4}) {
                    Inputs in = inputs(positions, heads, headSize, positions * 31L + headSize);
                    int[] all = IntStream.range(0, positions).toArray();
                    float[] dense = new float[heads * headSize];
                    float[] scratch = new float[positions];
                    for (int h = 0; h < heads; h++) {
                        DenseAttention.attendHead(in.q, h * headSize, KvRows.wrap(in.keys, in.kvDim), KvRows.wrap(in.values, in.kvDim), in.kvOff, headSize,
                                null, positions, scratch, dense, h * headSize);
                    }
                    float[] got = sparse(in, heads, headSize, all, new float[heads * positions]);
                    for (int i = 0; i < got.length; i++) {
                        assertEquals(Float.floatToRawIntBits(dense[i]), Float.floatToRawIntBits(got[i]),
                                "headSize " + headSize + " positions " + positions + " heads " + heads + " element " + i);
                    }
                }
            }
        }
    }

    @Test
    void aSubsetMatchesTheReferenceKernelExactlyAndDoublePrecisionWithinTolerance() {
        Random rnd = new Random(9);
        for (int headSize : new int[]{8, 64}) {
            for (int positions : new int[]{10, 333, 4096}) {
                int heads = 4;
                Inputs in = inputs(positions, heads, headSize, positions + headSize);
                int[] idx = IntStream.range(0, positions).filter(t -> rnd.nextInt(4) == 0 || t == positions - 1).toArray();
                float[] weights = new float[heads * idx.length];
                float[] got = sparse(in, heads, headSize, idx, weights);
                assertArrayEquals(denseReference(in, heads, headSize, idx), got, "same arithmetic as DenseAttention.attendHead");
                for (int h = 0; h < heads; h++) {
                    double[] ref = exact(in, h, headSize, idx);
                    double err = 0, norm = 0;
                    for (int c = 0; c < headSize; c++) {
                        err += Math.pow(got[h * headSize + c] - ref[c], 2);
                        norm += ref[c] * ref[c];
                    }
                    // float32 logits, exp and sums over up to 4096 terms: a few ulps per term at most.
                    assertTrue(Math.sqrt(err / norm) < 1e-5, "normalized error " + Math.sqrt(err / norm));
                    double sum = 0;
                    for (int j = 0; j < idx.length; j++) sum += weights[h * idx.length + j];
                    assertEquals(1.0, sum, 1e-4, "attention weights of head " + h + " sum to 1");
                }
            }
        }
    }

    /**
     * An f16 cache is widened in tiles of 64 rows (through the thread's halves for scattered rows) and then runs
     * the f32 kernels, so it must give, bit for bit, what an f32 cache holding its widened values gives: groups of
     * 4 heads of 64 (the four-head lane sums with AVX-512) and of 1, every position and a quarter of them, across
     * several tiles and a partial last one.
     */
    @Test
    void anF16CacheGivesWhatAnF32CacheOfItsWidenedValuesGives() {
        Random rnd = new Random(21);
        for (int heads : new int[]{1, 4}) {
            for (int positions : new int[]{7, 200, 1000}) {
                int headSize = 64;
                Inputs in = inputs(positions, heads, headSize, positions * 7L + heads);
                KvRows k16 = KvRows.of(KvType.F16, in.keys, in.kvDim, headSize), v16 = KvRows.of(KvType.F16, in.values, in.kvDim, headSize);
                float[] kWide = widened(in.keys), vWide = widened(in.values);
                int[] quarter = IntStream.range(0, positions).filter(t -> rnd.nextInt(4) == 0 || t == positions - 1).toArray();
                for (int[] idx : new int[][]{null, quarter}) {
                    int count = idx == null ? positions : idx.length;
                    float[] want = new float[heads * headSize], got = new float[heads * headSize];
                    DenseAttention.attendGroup(in.q, 0, heads, KvRows.wrap(kWide, in.kvDim), KvRows.wrap(vWide, in.kvDim), in.kvOff, headSize,
                            idx, count, new float[heads * count], count, want, 0);
                    DenseAttention.attendGroup(in.q, 0, heads, k16, v16, in.kvOff, headSize, idx, count, new float[heads * count], count, got, 0);
                    for (int i = 0; i < got.length; i++) {
                        assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]),
                                heads + " heads, " + positions + " positions, " + (idx == null ? "all" : "a quarter") + ", element " + i);
                    }
                }
            }
        }
    }

    private static float[] widened(float[] x) {
        float[] w = new float[x.length];
        for (int i = 0; i < x.length; i++) w[i] = Float.float16ToFloat(Float.floatToFloat16(x[i]));
        return w;
    }

    @Test
    void weightsAreLeftPerHeadAtTheirStride() {
        Inputs in = inputs(50, 2, 8, 3);
        int[] idx = {0, 10, 20, 49};
        float[] weights = new float[2 * 10];
        Arrays.fill(weights, -1f);
        float[] out = new float[16];
        SparseAttentionKernel.attend(in.q, 0, 2, KvRows.wrap(in.keys, in.kvDim), KvRows.wrap(in.values, in.kvDim), in.kvOff, 8, idx, 4, weights, 10, out, 0);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) assertTrue(weights[h * 10 + j] > 0 && weights[h * 10 + j] < 1);
            for (int j = 4; j < 10; j++) assertEquals(-1f, weights[h * 10 + j], "untouched past count");
        }
        assertThrows(IllegalArgumentException.class,
                () -> SparseAttentionKernel.attend(in.q, 0, 2, KvRows.wrap(in.keys, in.kvDim), KvRows.wrap(in.values, in.kvDim), in.kvOff, 8, idx, 4, weights, 3, out, 0));
    }
}
