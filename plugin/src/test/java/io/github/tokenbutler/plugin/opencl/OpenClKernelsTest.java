package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.selection.TopKSelection;
import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every per-token OpenCL kernel, one at a time ({@link SingleKernelRuns}) on each device found, against its plain
 * reference, on random inputs of several sizes, including sizes that are not multiples of any work-group size
 * (1, 17, 65, 1000, 4099 ...). The CPU's kernels meet the same references in their own tests (ImportanceScoresTest,
 * TopKSelectionTest, SparseAttentionKernelTest); the production backends as a whole meet a plain reference in
 * {@link AttentionBackendContractTest}.
 *
 * <p>Error measure: max |backend − reference| / max |reference| over the output (normalized error), reference
 * in float64. Tolerance: {@value #TOLERANCE} for scoring and attention (float32 sums of up to a few thousand
 * terms, in another order than the reference, are off by a few ulps of the largest term). Top-k gets identical
 * scores and must give exactly the reference's selection (same order, same ties).
 */
class OpenClKernelsTest {
    static final double TOLERANCE = 1e-5;

    static List<OpenClKernels> devices() { return OpenClBackends.kernels(); }

    @Test
    void openClIsPresentOrTheSkipSaysWhy() {
        ClDevice d = OpenClBackends.requireOpenCl();
        System.out.println("OpenCL devices: " + OpenClBackends.devices().stream().map(ClDevice::describe).toList());
        assertFalse(d.name().isEmpty());
    }

    static double normalizedError(float[] actual, double[] expected, int n) {
        double maxRef = 1e-30, maxErr = 0;
        for (int i = 0; i < n; i++) {
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            double e = Math.abs(actual[i] - expected[i]);
            if (!(e <= maxErr)) maxErr = e; // NaN counts as infinitely wrong
        }
        return maxErr / maxRef;
    }

    @ParameterizedTest(name = "{0}", autoCloseArguments = false)
    @MethodSource("devices")
    void importanceScoresMatchThePlainReference(OpenClKernels k) {
        Random r = new Random(11);
        for (KeyPrecision precision : KeyPrecision.values()) {
            for (int dim : new int[]{8, 16}) {
                for (int count : new int[]{1, 17, 64, 65, 1000, 4099}) {
                    int groups = 4;
                    BlockedVectorStore keys = BlockedVectorStore.create(precision, groups, dim, 8192);
                    keys.ensureCapacity(count);
                    float[] v = new float[dim];
                    for (int g = 0; g < groups; g++) {
                        for (int p = 0; p < count; p++) {
                            for (int j = 0; j < dim; j++) v[j] = (float) r.nextGaussian();
                            keys.put(g, p, v, 0);
                        }
                    }
                    float[] q = new float[groups * dim];
                    for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
                    for (int nGroups : new int[]{1, 2}) {
                        int g0 = 1;
                        float scale = (float) (1 / Math.sqrt(dim)) / nGroups;
                        float[] out = new float[count];
                        SingleKernelRuns.importanceScores(k, keys, g0, nGroups, q, g0 * dim, count, scale, out);
                        float[] ref = new float[count];
                        keys.dotScoresPlain(g0, nGroups, q, g0 * dim, count, scale, ref);
                        double[] refD = new double[count];
                        for (int i = 0; i < count; i++) refD[i] = ref[i];
                        double err = normalizedError(out, refD, count);
                        assertTrue(err <= TOLERANCE, k.name() + " " + precision + " dim " + dim + " count " + count + " groups " + nGroups
                                + ": normalized error " + err);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}", autoCloseArguments = false)
    @MethodSource("devices")
    void topKMatchesTheFullSortReference(OpenClKernels k) {
        Random r = new Random(5);
        for (int n : new int[]{2, 17, 100, 257, 1000, 1025, 5000, 20000}) {
            for (int trial = 0; trial < 5; trial++) {
                float[] scores = new float[n + 7];
                for (int i = 0; i < scores.length; i++) {
                    // Coarse values give many ties; a few NaNs, infinities and signed zeros test the order's edges.
                    // Trials 3 and 4 are for top_k_serial.cl's buckets: a range whose width overflows float (every
                    // finite score in one bucket), and a few outliers far outside the rest (which its sample misses).
                    scores[i] = switch (trial) {
                        case 0 -> (float) r.nextGaussian();
                        case 3 -> (float) (r.nextGaussian() * 1.5e38);
                        case 4 -> r.nextInt(100) == 0 ? (float) (r.nextGaussian() * 1e30) : (float) r.nextGaussian();
                        default -> Math.round(r.nextGaussian() * 4) / 4f;
                    };
                    int special = r.nextInt(200);
                    if (special == 0) scores[i] = Float.NaN;
                    else if (special == 1) scores[i] = -0.0f;
                    else if (special == 2) scores[i] = Float.NEGATIVE_INFINITY;
                    else if (special == 3) scores[i] = Float.POSITIVE_INFINITY;
                }
                int from = 7, to = n + 7;
                for (int kk : new int[]{1, n / 3 + 1, n / 2, n - 1, n}) {
                    if (kk <= 0) continue;
                    int[] expected = new int[kk];
                    int ne = TopKSelection.selectReference(scores, from, to, kk, expected, 0);
                    for (OpenClKernels.Form kernel : OpenClKernels.Form.values()) {
                        int[] actual = new int[kk];
                        int na = SingleKernelRuns.topK(k, kernel, scores, from, to, kk, actual, 0);
                        String what = k.name() + " " + kernel + " n " + n + " k " + kk + " trial " + trial;
                        assertEquals(ne, na, what);
                        assertArrayEquals(expected, actual, what);
                    }
                }
            }
        }
    }

    /** Plain float64 attention of one head over the given positions. */
    static double[] referenceAttention(float[] q, int qOff, float[] keys, float[] values, int kvDim, int kvOff, int headSize,
                                       int[] idx, int count) {
        double[] logits = new double[count];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < count; j++) {
            double s = 0;
            for (int c = 0; c < headSize; c++) s += (double) q[qOff + c] * keys[idx[j] * kvDim + kvOff + c];
            logits[j] = s / Math.sqrt(headSize);
            max = Math.max(max, logits[j]);
        }
        double sum = 0;
        for (int j = 0; j < count; j++) sum += (logits[j] = Math.exp(logits[j] - max));
        double[] out = new double[headSize];
        for (int j = 0; j < count; j++) {
            for (int c = 0; c < headSize; c++) out[c] += logits[j] / sum * values[idx[j] * kvDim + kvOff + c];
        }
        return out;
    }

    @ParameterizedTest(name = "{0}", autoCloseArguments = false)
    @MethodSource("devices")
    void sparseAttentionMatchesThePlainReference(OpenClKernels k) {
        Random r = new Random(3);
        // 32 and 128 for the serial form: two vectors per accumulator run, and two runs of four
        for (int headSize : new int[]{8, 32, 64, 100, 128}) {
            for (int positions : new int[]{1, 33, 127, 300, 2049}) {
                int kvHeads = 2, kvDim = kvHeads * headSize, heads = 3;
                float[] keys = random(r, positions * kvDim), values = random(r, positions * kvDim);
                float[] q = random(r, (heads + 1) * headSize);
                // A random ascending subset (at least the last position).
                int[] idx = new int[positions];
                int count = 0;
                for (int t = 0; t < positions; t++) if (t == positions - 1 || r.nextInt(3) > 0) idx[count++] = t;
                int kvOff = headSize, qOff = headSize;
                for (OpenClKernels.Form form : OpenClKernels.Form.values()) {
                    float[] out = new float[(heads + 1) * headSize];
                    SingleKernelRuns.sparseAttention(k, form, q, qOff, heads, keys, values, kvDim, kvOff, headSize, idx, count, out, headSize,
                            KeyPrecision.F32);
                    for (int h = 0; h < heads; h++) {
                        double[] ref = referenceAttention(q, qOff + h * headSize, keys, values, kvDim, kvOff, headSize, idx, count);
                        double err = normalizedError(Arrays.copyOfRange(out, headSize + h * headSize, headSize + (h + 1) * headSize), ref, headSize);
                        assertTrue(err <= TOLERANCE, k.name() + " " + form + " head size " + headSize + " positions " + positions + " count " + count
                                + " head " + h + ": normalized error " + err);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}", autoCloseArguments = false)
    @MethodSource("devices")
    void sparseAttentionOverEveryPositionIsDenseAttention(OpenClKernels k) {
        Random r = new Random(9);
        for (int positions : new int[]{1, 65, 513}) {
            int headSize = 16, kvDim = headSize;
            float[] keys = random(r, positions * kvDim), values = random(r, positions * kvDim), q = random(r, headSize);
            int[] all = new int[positions];
            Arrays.setAll(all, t -> t);
            float[] dense = new float[headSize];
            DenseAttention.attendHead(q, 0, KvRows.wrap(keys, kvDim), KvRows.wrap(values, kvDim), 0, headSize, null, positions, new float[positions], dense, 0);
            double[] d = new double[headSize];
            for (int c = 0; c < headSize; c++) d[c] = dense[c];
            for (OpenClKernels.Form form : OpenClKernels.Form.values()) {
                float[] sparse = new float[headSize];
                SingleKernelRuns.sparseAttention(k, form, q, 0, 1, keys, values, kvDim, 0, headSize, all, positions, sparse, 0, KeyPrecision.F32);
                double err = normalizedError(sparse, d, headSize);
                assertTrue(err <= TOLERANCE, k.name() + " " + form + " positions " + positions + ": normalized error vs dense " + err);
            }
        }
    }

    /**
     * mirror=f16: the device rounds the caches to half, so the reference runs on half-rounded K/V (float64
     * arithmetic); what remains is the kernel's float arithmetic, held to the same tolerance. Head sizes 100 and
     * 12 take the VEC 4 program, 64 the VEC 16 one, 6 the VEC 2 one.
     */
    @Test
    void halfPrecisionMirrorMatchesTheReferenceOnHalfRoundedCaches() {
        Random r = new Random(5);
        for (OpenClKernels k : OpenClBackends.kernels()) {
            for (int headSize : new int[]{6, 12, 64, 100}) {
                for (int positions : new int[]{1, 300, 2049}) {
                    int kvDim = 2 * headSize, heads = 2, kvOff = headSize;
                    float[] keys = random(r, positions * kvDim), values = random(r, positions * kvDim), q = random(r, heads * headSize);
                    float[] halfKeys = keys.clone(), halfValues = values.clone();
                    for (int i = 0; i < keys.length; i++) {
                        halfKeys[i] = Float.float16ToFloat(Float.floatToFloat16(keys[i]));
                        halfValues[i] = Float.float16ToFloat(Float.floatToFloat16(values[i]));
                    }
                    int[] idx = new int[positions];
                    int count = 0;
                    for (int t = 0; t < positions; t++) if (t == positions - 1 || r.nextInt(2) > 0) idx[count++] = t;
                    for (OpenClKernels.Form form : OpenClKernels.Form.values()) {
                        float[] out = new float[heads * headSize];
                        SingleKernelRuns.sparseAttention(k, form, q, 0, heads, keys, values, kvDim, kvOff, headSize, idx, count, out, 0, KeyPrecision.F16);
                        for (int h = 0; h < heads; h++) {
                            double[] ref = referenceAttention(q, h * headSize, halfKeys, halfValues, kvDim, kvOff, headSize, idx, count);
                            double err = normalizedError(Arrays.copyOfRange(out, h * headSize, (h + 1) * headSize), ref, headSize);
                            assertTrue(err <= TOLERANCE, k.name() + " " + form + " f16 mirror, head size " + headSize + " positions " + positions
                                    + " head " + h + ": normalized error " + err);
                        }
                    }
                }
            }
        }
    }

    static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
