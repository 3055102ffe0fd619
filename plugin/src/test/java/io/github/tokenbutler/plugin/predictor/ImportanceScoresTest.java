package io.github.tokenbutler.plugin.predictor;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scoring kernels of {@link BlockedVectorStore} and {@link ImportanceState} against their plain float64
 * references, for every key precision, at counts that end inside a block.
 *
 * <p>Tolerance: |fast - reference| ≤ 1e-6 * scale * Σ_k |q_k| |v_k|, the size a float32 sum's rounding error
 * scales with (the reference decodes the same stored vectors, so precision loss of F16/Q8 is not counted here).
 */
class ImportanceScoresTest {
    static final int[] COUNTS = {1, 15, 16, 17, 70, 1000};

    @Test void dotScoresMatchThePlainReference() {
        for (KeyPrecision precision : KeyPrecision.values())
        for (int dim : new int[]{16, 7}) {   // 7: Q4's last byte holds one value
            int groups = 6;
            BlockedVectorStore store = BlockedVectorStore.create(precision, groups, dim, 1000);
            store.fillRandom(1000, 42, 3f);
            float[] q = PredictorForwardTest.gaussianInputs(1, groups * dim, 9);
            float[] fast = new float[1000], plain = new float[1000];
            for (int count : COUNTS) {
                for (int g = 0; g < groups; g++) {
                    store.dotScores(g, q, g * dim, count, 0.25f, fast);
                    store.dotScoresPlain(g, 1, q, g * dim, count, 0.25f, plain);
                    assertClose(store, g, 1, q, g * dim, count, 0.25f, fast, plain, precision + " dim " + dim + " group " + g);
                }
                // Sums over consecutive groups, as groupScores uses them (here 2 and 3 groups).
                for (int nGroups : new int[]{2, 3}) {
                    store.dotScoresSum(1, nGroups, q, dim, count, 0.5f, fast);
                    store.dotScoresPlain(1, nGroups, q, dim, count, 0.5f, plain);
                    assertClose(store, 1, nGroups, q, dim, count, 0.5f, fast, plain, precision + " sum of " + nGroups);
                }
            }
        }
    }

    private static void assertClose(BlockedVectorStore store, int g0, int nGroups, float[] q, int qOff, int count, float scale,
                                    float[] fast, float[] plain, String what) {
        float[] v = new float[store.dim()];
        for (int p = 0; p < count; p++) {
            double bound = 0;
            for (int k = 0; k < nGroups; k++) {
                store.get(g0 + k, p, v, 0);
                for (int j = 0; j < store.dim(); j++) bound += Math.abs((double) q[qOff + k * store.dim() + j] * v[j]);
            }
            double tol = 1e-6 * scale * bound + 1e-30;
            assertTrue(Math.abs(fast[p] - plain[p]) <= tol, what + " count " + count + " position " + p + ": fast " + fast[p] + ", reference " + plain[p]);
        }
    }

    @Test void storedValuesRoundTripThroughEachPrecision() {
        float[] src = {0f, -0f, 1f, -1f, 0.1f, 65504f, -70000f, 6e-8f, -3e-5f, 1234.5f, 1e-3f, -2.5f, 0.333f, 7f, -8f, 9e4f};
        for (KeyPrecision precision : KeyPrecision.values()) {
            BlockedVectorStore store = BlockedVectorStore.create(precision, 1, src.length, 40);
            store.ensureCapacity(40);
            for (int p = 0; p < 40; p++) store.put(0, p, src, 0);
            float[] back = new float[src.length];
            store.get(0, 33, back, 0);
            for (int j = 0; j < src.length; j++) {
                float expected = switch (precision) {
                    case F32 -> src[j];
                    case F16 -> Float.float16ToFloat(Float.floatToFloat16(Math.max(-65504f, Math.min(65504f, src[j]))));
                    case Q8 -> Math.round(src[j] * 127f / 90000f) * (90000f / 127f);
                    case Q4 -> Math.round(src[j] * 7f / 90000f) * (90000f / 7f);
                };
                assertEquals(expected, back[j], Math.ulp(expected) * 2, precision + " value " + j);
            }
            // The kernel decodes exactly what get() decodes: a unit query picks out one stored value.
            float[] out = new float[40];
            for (int j = 0; j < src.length; j++) {
                float[] unit = new float[src.length];
                unit[j] = 1f;
                store.dotScores(0, unit, 0, 40, 1f, out);
                assertEquals(back[j], out[33], precision == KeyPrecision.Q8 || precision == KeyPrecision.Q4 ? Math.ulp(back[j]) : 0f, precision + " kernel value " + j);
            }
        }
    }

    @Test void weightedSumMatchesThePlainReference() {
        BlockedVectorStore store = BlockedVectorStore.create(KeyPrecision.F32, 2, 8, 300);
        store.fillRandom(300, 3, 1f);
        float[] w = new float[300];
        BlockedVectorStore.SplitMix64 rng = new BlockedVectorStore.SplitMix64(1);
        for (int i = 0; i < w.length; i++) w[i] = rng.nextFloat();
        for (int count : new int[]{1, 16, 45, 300}) {
            float[] fast = new float[8], plain = new float[8];
            store.weightedSum(1, w, count, fast, 0);
            BlockedVectorStore.F32 asF32 = (BlockedVectorStore.F32) store;
            float[] v = new float[8];
            double[] acc = new double[8];
            for (int p = 0; p < count; p++) {
                asF32.get(1, p, v, 0);
                for (int j = 0; j < 8; j++) acc[j] += (double) w[p] * v[j];
            }
            for (int j = 0; j < 8; j++) plain[j] = (float) acc[j];
            for (int j = 0; j < 8; j++) assertEquals(plain[j], fast[j], 1e-5 * count, "count " + count + " dim " + j);
        }
    }

    @Test void stateScoresAndGroupScoresMatchTheirReferences() {
        PredictorConfig c = PredictorConfig.forModel(PredictorForwardTest.WIDE, "test", 16, 8, 96, 2);
        TokenButlerPredictor p = TokenButlerPredictor.of(c, PredictorWeights.random(c, 1), PredictorForwardTest.fingerprint(c));
        int n = 53;
        float[] x = PredictorForwardTest.gaussianInputs(n, c.modelDim(), 4);
        for (KeyPrecision precision : KeyPrecision.values()) {
            ImportanceState s = p.newState(64, precision);
            s.append(0, 40, x);
            s.append(40, 13, java.util.Arrays.copyOfRange(x, 40 * c.modelDim(), n * c.modelDim()));
            float[] fast = new float[n], plain = new float[n], mean = new float[n], one = new float[n];
            for (int i = 0; i < 13; i++) {
                for (int layer = 0; layer < c.modelLayers(); layer++) {
                    for (int head = 0; head < c.modelHeads(); head++) {
                        s.scores(i, layer, head, 41 + i, fast);
                        s.cache().scoresPlain(i, layer, head, 41 + i, plain);
                        for (int j = 0; j < 41 + i; j++) assertEquals(plain[j], fast[j], 1e-5 * (1 + Math.abs(plain[j])), precision + " scores");
                    }
                    for (int kv = 0; kv < c.modelKvHeads(); kv++) {
                        s.groupScores(i, layer, kv, 41 + i, fast);
                        s.cache().groupScoresPlain(i, layer, kv, 41 + i, plain);
                        java.util.Arrays.fill(mean, 0f);
                        for (int h = kv * c.modelKvGroup(); h < (kv + 1) * c.modelKvGroup(); h++) {
                            s.cache().scoresPlain(i, layer, h, 41 + i, one);
                            for (int j = 0; j < 41 + i; j++) mean[j] += one[j] / c.modelKvGroup();
                        }
                        for (int j = 0; j < 41 + i; j++) {
                            assertEquals(plain[j], fast[j], 1e-5 * (1 + Math.abs(plain[j])), precision + " group scores");
                            assertEquals(mean[j], plain[j], 1e-5 * (1 + Math.abs(mean[j])), precision + " group scores = mean of the heads' scores");
                        }
                    }
                }
            }
            float[] small = new float[3];
            assertThrows(IllegalArgumentException.class, () -> s.scores(13, 0, 0, 1, small), "only 13 query tokens");
            assertThrows(IllegalArgumentException.class, () -> s.scores(0, 0, 0, n + 1, new float[n + 1]), "count beyond the stored positions");
            assertThrows(IllegalArgumentException.class, () -> s.scores(0, 0, 0, 10, small), "output too small");
            assertThrows(IllegalArgumentException.class, () -> s.groupScores(0, 0, c.modelKvHeads(), 1, small), "no such KV head");
        }
    }

    @Test void vectorExpMatchesItsScalarTwinAndMathExp() {
        var species = PredictorMath.F;
        float[] xs = new float[species.length()];
        float[] out = new float[species.length()];
        double worst = 0;
        for (int k = 0; k < 20000; k += species.length()) {
            for (int l = 0; l < xs.length; l++) xs[l] = -100f * (k + l) / 20000f;
            PredictorMath.expNonPositive(FloatVector.fromArray(species, xs, 0)).intoArray(out, 0);
            for (int l = 0; l < xs.length; l++) {
                assertEquals(PredictorMath.expNonPositive(xs[l]), out[l], 0f, "vector and scalar exp differ at " + xs[l]);
                double exact = Math.exp(xs[l]);
                if (exact > 1e-37) worst = Math.max(worst, Math.abs(out[l] - exact) / exact);
                else assertTrue(out[l] < 1e-36f);
            }
        }
        assertTrue(worst < 1e-6, "exp relative error " + worst);
    }
}
