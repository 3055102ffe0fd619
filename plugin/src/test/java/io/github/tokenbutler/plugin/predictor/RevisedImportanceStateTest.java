package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The revised (v2) predictor's state against a float64 reference of its equations (written here from the
 * definitions in {@link RevisedImportanceState}'s documentation: LayerNorm, Linear, SiLU, Linear per producer; a
 * linear map of each post-RoPE key per KV head; q·k/sqrt(d')), on an odd shape: 6 layers with a producer every 4
 * (the last producer covers 2 layers), 6 query heads on 2 KV heads, head size 8, d' 4.
 */
class RevisedImportanceStateTest {
    static final int DIM = 48, LAYERS = 6, HEADS = 6, KV_HEADS = 2, HEAD_SIZE = 8, VOCAB = 32, D_PRIME = 4, HIDDEN = 16, SPACING = 4;
    static final int N = 37;
    static final RevisedPredictorConfig CONFIG = new RevisedPredictorConfig(DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, VOCAB,
            D_PRIME, HIDDEN, SPACING, false, 10000f, 1e-5f, "test").validate("test");
    static final RevisedPredictorWeights WEIGHTS = RevisedPredictorWeights.random(CONFIG, 7);
    /** The same shape with rotary importance vectors (keys before RoPE; K below stands for them). */
    static final RevisedPredictorConfig ROTARY = new RevisedPredictorConfig(DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, VOCAB,
            D_PRIME, HIDDEN, SPACING, true, 500f, 1e-5f, "test").validate("test");

    /** Per layer: the attention inputs [N][DIM] and the post-RoPE keys [N][KV_HEADS*HEAD_SIZE]. */
    static final float[][] X = new float[LAYERS][], K = new float[LAYERS][];
    static {
        Random r = new Random(3);
        for (int l = 0; l < LAYERS; l++) {
            X[l] = new float[N * DIM];
            K[l] = new float[N * KV_HEADS * HEAD_SIZE];
            for (int i = 0; i < X[l].length; i++) X[l][i] = (float) r.nextGaussian();
            for (int i = 0; i < K[l].length; i++) K[l][i] = (float) r.nextGaussian();
        }
    }

    static RevisedImportanceState state(KeyPrecision p) { return new RevisedImportanceState(CONFIG, WEIGHTS, 64, p); }

    /** Runs positions from..to-1 through the state the way the hook does: each layer's input, then its keys. */
    static void step(RevisedImportanceState s, int from, int to) {
        int n = to - from, w = KV_HEADS * HEAD_SIZE;
        for (int l = 0; l < LAYERS; l++) {
            s.producerInput(l, from, n, Arrays.copyOfRange(X[l], from * DIM, to * DIM));
            if (l > 0) {
                s.keysBeforeRope(l, from, n, Arrays.copyOfRange(K[l], from * w, to * w));
                s.keysWritten(l, from, n, KvRows.wrap(K[l], w));
            }
        }
    }

    /** The float64 reference logit of query position qp, layer l, head h, key position t. */
    static double reference(int qp, int l, int h, int t) { return reference(CONFIG, qp, l, h, t); }

    /** Rotate-half RoPE of a d'-vector at pos, in double. */
    static double[] rotated(double[] v, int pos, double theta) {
        int half = v.length / 2;
        double[] r = new double[v.length];
        for (int i = 0; i < half; i++) {
            double a = pos * Math.pow(theta, -2.0 * i / v.length), cos = Math.cos(a), sin = Math.sin(a);
            r[i] = v[i] * cos - v[i + half] * sin;
            r[i + half] = v[i + half] * cos + v[i] * sin;
        }
        return r;
    }

    static double reference(RevisedPredictorConfig config, int qp, int l, int h, int t) {
        int p = l / SPACING, g = l % SPACING;
        double[] x = new double[DIM];
        double mean = 0, var = 0;
        for (int e = 0; e < DIM; e++) mean += X[p * SPACING][qp * DIM + e];
        mean /= DIM;
        for (int e = 0; e < DIM; e++) var += Math.pow(X[p * SPACING][qp * DIM + e] - mean, 2);
        var /= DIM;
        for (int e = 0; e < DIM; e++) {
            x[e] = (X[p * SPACING][qp * DIM + e] - mean) / Math.sqrt(var + 1e-5) * WEIGHTS.normWeight[p][e] + WEIGHTS.normBias[p][e];
        }
        double[] u = new double[HIDDEN];
        for (int i = 0; i < HIDDEN; i++) {
            double a = WEIGHTS.upBias[p][i];
            for (int e = 0; e < DIM; e++) a += WEIGHTS.up[p][i * DIM + e] * x[e];
            u[i] = a / (1 + Math.exp(-a));
        }
        int kv = h / (HEADS / KV_HEADS);
        double[] q = new double[D_PRIME], k = new double[D_PRIME];
        for (int j = 0; j < D_PRIME; j++) {
            int o = (g * HEADS + h) * D_PRIME + j;
            q[j] = WEIGHTS.downBias[p][o];
            for (int i = 0; i < HIDDEN; i++) q[j] += WEIGHTS.down[p][o * HIDDEN + i] * u[i];
            for (int e = 0; e < HEAD_SIZE; e++) {
                k[j] += WEIGHTS.keyProjection[l][(kv * D_PRIME + j) * HEAD_SIZE + e] * K[l][t * KV_HEADS * HEAD_SIZE + kv * HEAD_SIZE + e];
            }
        }
        if (config.rotary()) {
            q = rotated(q, qp, config.ropeTheta());
            k = rotated(k, t, config.ropeTheta());
        }
        double dot = 0;
        for (int j = 0; j < D_PRIME; j++) dot += q[j] * k[j];
        return dot / Math.sqrt(D_PRIME);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void scoresMatchTheFloat64ReferenceWithF32Keys(boolean rotary) {
        RevisedPredictorConfig config = rotary ? ROTARY : CONFIG;
        RevisedImportanceState s = new RevisedImportanceState(config, WEIGHTS, 64, KeyPrecision.F32);
        step(s, 0, N);
        float[] out = new float[N];
        double maxErr = 0, maxRef = 0;
        for (int i = 0; i < N; i += 5) {
            for (int l = 1; l < LAYERS; l++) {
                for (int h = 0; h < HEADS; h++) {
                    s.scores(i, l, h, i + 1, out);
                    for (int t = 0; t <= i; t++) {
                        double ref = reference(config, i, l, h, t);
                        maxErr = Math.max(maxErr, Math.abs(out[t] - ref));
                        maxRef = Math.max(maxRef, Math.abs(ref));
                    }
                }
            }
        }
        // float32 sums of at most 48 products: the normalized error stays near 1e-7
        assertTrue(maxErr / maxRef < 1e-5, "normalized error " + maxErr / maxRef);
    }

    @Test
    void aGroupsRowIsTheMeanOfItsHeadsLogits() {
        RevisedImportanceState s = state(KeyPrecision.F32);
        step(s, 0, N);
        int group = HEADS / KV_HEADS;
        float[] row = new float[N], head = new float[N];
        for (int l = 1; l < LAYERS; l++) {
            for (int kv = 0; kv < KV_HEADS; kv++) {
                s.groupScores(N - 1, l, kv, N, row);
                double[] mean = new double[N];
                for (int h = kv * group; h < (kv + 1) * group; h++) {
                    s.scores(N - 1, l, h, N, head);
                    for (int t = 0; t < N; t++) mean[t] += head[t] / (double) group;
                }
                for (int t = 0; t < N; t++) assertEquals(mean[t], row[t], 1e-5 * (1 + Math.abs(mean[t])), "layer " + l + " kv " + kv + " key " + t);
            }
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aGroupOnlyStateScoresTheMeanQueryFromTheAveragedDownProjection(boolean rotary) {
        RevisedPredictorConfig config = rotary ? ROTARY : CONFIG;
        ModelFingerprint fp = new ModelFingerprint("test", DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, VOCAB, "test",
                new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]);
        RevisedPredictor predictor = RevisedPredictor.of(config, WEIGHTS, fp);
        RevisedImportanceState perHead = predictor.newState(64, KeyPrecision.F32), groupOnly = predictor.newState(64, KeyPrecision.F32, true);
        step(perHead, 0, N);
        step(groupOnly, 0, N);
        float[] a = new float[N], b = new float[N];
        double maxErr = 0, maxRef = 0;
        for (int i = 0; i < N; i += 6) {
            for (int l = 1; l < LAYERS; l++) {
                for (int kv = 0; kv < KV_HEADS; kv++) {
                    perHead.groupScores(i, l, kv, i + 1, a);
                    groupOnly.groupScores(i, l, kv, i + 1, b);
                    for (int t = 0; t <= i; t++) {
                        maxErr = Math.max(maxErr, Math.abs(a[t] - b[t]));
                        maxRef = Math.max(maxRef, Math.abs(a[t]));
                    }
                }
            }
        }
        // the same sums in another order (mean of the rows before the products): float32 rounding only
        assertTrue(maxErr / maxRef < 1e-5, "normalized difference " + maxErr / maxRef);
        assertTrue(groupOnly.groupQueriesOnly());
        var e = assertThrows(IllegalStateException.class, () -> groupOnly.scores(0, 1, 0, 1, a));
        assertTrue(e.getMessage().contains("only the KV groups' mean queries"), e.getMessage());
    }

    @Test
    void decodingTokenByTokenGivesTheScoresOfOnePrefillExactly() {
        RevisedImportanceState whole = state(KeyPrecision.Q8), stepped = state(KeyPrecision.Q8);
        step(whole, 0, N);
        step(stepped, 0, 10);
        for (int p = 10; p < N; p++) step(stepped, p, p + 1);
        float[] a = new float[N], b = new float[N];
        for (int l = 1; l < LAYERS; l++) {
            for (int h = 0; h < HEADS; h++) {
                whole.scores(N - 1, l, h, N, a);
                stepped.scores(0, l, h, N, b);
                assertArrayEquals(a, b, "layer " + l + " head " + h);
            }
        }
    }

    @Test
    void aRewoundSequenceEqualsAFreshOne() {
        RevisedImportanceState rewound = state(KeyPrecision.Q8), fresh = state(KeyPrecision.Q8);
        step(rewound, 0, N);
        step(rewound, 5, 12); // back to position 5: positions 5.. are written again
        step(fresh, 0, 12);
        float[] a = new float[12], b = new float[12];
        for (int l = 1; l < LAYERS; l++) {
            rewound.scores(6, l, 1, 12, a);
            fresh.scores(11, l, 1, 12, b);
            assertArrayEquals(b, a, "layer " + l);
        }
        assertThrows(IllegalArgumentException.class, () -> rewound.scores(0, 1, 0, 13, a), "beyond the keys stored");
    }

    @Test
    void inputsOutOfStepAreRefused() {
        RevisedImportanceState s = state(KeyPrecision.Q8);
        s.producerInput(0, 0, 4, X[0]);
        assertThrows(IllegalStateException.class, () -> s.producerInput(4, 1, 4, X[4]), "another layer's positions than layer 0's");
        assertThrows(IllegalStateException.class, () -> s.keysWritten(2, 8, 1, KvRows.wrap(K[2], KV_HEADS * HEAD_SIZE)), "a gap in a layer's keys");
        assertThrows(IllegalArgumentException.class, () -> s.producerInput(0, 9, 1, X[0]), "a gap after the stored positions");
    }

    @Test
    void keysAreProjectedFromTheCacheInItsStoredType() {
        // an f16 cache hands over its rounded rows; the projection reads exactly those values
        RevisedImportanceState fromF16 = state(KeyPrecision.F32), fromRounded = state(KeyPrecision.F32);
        int w = KV_HEADS * HEAD_SIZE;
        for (int l = 0; l < LAYERS; l++) {
            float[] rounded = K[l].clone();
            for (int i = 0; i < rounded.length; i++) rounded[i] = Float.float16ToFloat(Float.floatToFloat16(rounded[i]));
            fromF16.producerInput(l, 0, N, X[l]);
            fromRounded.producerInput(l, 0, N, X[l]);
            if (l == 0) continue;
            fromF16.keysWritten(l, 0, N, KvRows.of(KvType.F16, K[l], w, HEAD_SIZE));
            fromRounded.keysWritten(l, 0, N, KvRows.wrap(rounded, w));
        }
        float[] a = new float[N], b = new float[N];
        fromF16.scores(N - 1, 3, 2, N, a);
        fromRounded.scores(N - 1, 3, 2, N, b);
        assertArrayEquals(b, a);
    }

    @Test
    void configRefusesShapesItCannotRun() {
        var e = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> new RevisedPredictorConfig(DIM, LAYERS, HEADS, KV_HEADS,
                HEAD_SIZE, VOCAB, D_PRIME, HIDDEN, LAYERS + 1, false, 10000f, 1e-5f, "x").validate("p.gguf"));
        assertTrue(e.getMessage().contains("producer spacing 7 is above the model's 6 layers"), e.getMessage());
        assertEquals(2, CONFIG.producers());
        assertEquals(4 * HEADS * D_PRIME, CONFIG.producerOutput());
    }
}
