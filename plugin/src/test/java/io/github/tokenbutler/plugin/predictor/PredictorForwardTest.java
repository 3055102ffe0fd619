package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The incremental float32 forward pass ({@link ImportanceState#append}, one token at a time or in chunks) against
 * the plain float64 full-sequence forward ({@link ReferencePredictor}) on the same tokens.
 *
 * <p>Tolerance: every importance query and key value within 2e-6 of the largest magnitude of its kind (float32
 * rounding through five matrix products; measured about 3e-7), and every predicted logit q_i·k_j/sqrt(d') within
 * 2e-6 of |q_i| max_j |k_j| / sqrt(d'), the size a dot product's rounding error scales with.
 */
class PredictorForwardTest {
    static final double TOLERANCE = 2e-6;

    static PredictorConfig storiesConfig(ModelConfig mc) {
        return PredictorConfig.forModel(mc, "test", 0, 0, 0, 0);
    }

    /** A wider made-up shape that exercises full vector lanes: attention head size 16, d' 16, 4 query heads per KV head. */
    static final ModelConfig WIDE = new ModelConfig(256, 512, 3, 8, 2, 32, 100, 512, 1e-5f, 500000f);

    static float[] gaussianInputs(int n, int dim, long seed) {
        BlockedVectorStore.SplitMix64 rng = new BlockedVectorStore.SplitMix64(seed);
        float[] x = new float[n * dim];
        for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
        return x;
    }

    @Test void storiesOneTokenAtATimeMatchesReference() {
        try (GGUF g = StoriesLayer0.open()) {
            ModelConfig mc = StoriesLayer0.config(g);
            PredictorConfig c = storiesConfig(mc);
            int[] tokens = StoriesLayer0.tokens(g, 80);
            float[] x = StoriesLayer0.inputs(g, mc, tokens);
            compareIncremental(c, PredictorWeights.random(c, 7), x, tokens.length, new int[]{1});
        }
    }

    @Test void wideShapeInChunksMatchesReference() {
        PredictorConfig c = PredictorConfig.forModel(WIDE, "test", 16, 8, 96, 2);
        assertEquals(16, c.attnHeadDim());
        int n = 70;
        compareIncremental(c, PredictorWeights.random(c, 11), gaussianInputs(n, c.modelDim(), 3), n, new int[]{17, 1, 1, 33, 5});
    }

    /**
     * The extensions of imported predictors (LayerNorms after the residual and before the importance MLPs, Llama-3
     * RoPE scaling with the authors' numbers) against the same reference; the positions reach 70, where with base 500000
     * the low frequencies are scaled, so that a missing or wrong scaling changes the logits.
     */
    @Test void importedExtensionsMatchReference() {
        PredictorConfig c = PredictorConfig.forModel(WIDE, "test", 16, 8, 96, 2).withExtensions(true, true, RopeScaling.AUTHORS_LLAMA3);
        int n = 70;
        PredictorWeights w = PredictorWeights.random(c, 13);
        assertTrue(w.residualNormWeight != null && w.importanceNormBias != null);
        compareIncremental(c, w, gaussianInputs(n, c.modelDim(), 5), n, new int[]{9, 1, 40});
        // the scaling changes the frequencies of the importance vectors (d' 16, base 500000): the last pair is divided by 32
        double plain = StrictMath.pow(500000, -14.0 / 16);
        assertEquals(plain / 32, RopeScaling.AUTHORS_LLAMA3.frequency(7, 16, 500000), plain * 1e-12);
        assertEquals(1.0, RopeScaling.AUTHORS_LLAMA3.frequency(0, 16, 500000), 1e-15);
    }

    /** Appends x in chunks of the given sizes (cycled), checking each append's queries and finally all keys and logits. */
    static void compareIncremental(PredictorConfig c, PredictorWeights w, float[] x, int n, int[] chunks) {
        ReferencePredictor.Output ref = ReferencePredictor.forward(c, w, x, n);
        int dim = c.importanceDim();
        double qMax = maxAbs(ref.q()), kMax = maxAbs(ref.k());
        ImportanceState state = TokenButlerPredictor.of(c, w, fingerprint(c)).newState(n, KeyPrecision.F32);
        double worstQ = 0, worstK = 0, worstLogit = 0;
        float[] scores = new float[n];
        float[] key = new float[c.dPrime()];
        int pos = 0;
        for (int ci = 0; pos < n; ci++) {
            int len = Math.min(chunks[ci % chunks.length], n - pos);
            float[] chunk = java.util.Arrays.copyOfRange(x, pos * c.modelDim(), (pos + len) * c.modelDim());
            state.append(pos, len, chunk);
            assertEquals(pos + len, state.length());
            for (int i = 0; i < len; i++) {
                for (int d = 0; d < dim; d++) {
                    worstQ = Math.max(worstQ, Math.abs(state.queries()[i * dim + d] - ref.q()[(pos + i) * dim + d]) / qMax);
                }
                for (int layer = 0; layer < c.modelLayers(); layer++) {
                    for (int head = 0; head < c.modelHeads(); head++) {
                        int count = pos + i + 1;
                        state.scores(i, layer, head, count, scores);
                        double rowScale = norm(ref.q(), (pos + i) * dim, layer, head, c) * maxKeyNorm(ref, count, layer, head) / Math.sqrt(c.dPrime());
                        for (int j = 0; j < count; j++) {
                            worstLogit = Math.max(worstLogit, Math.abs(scores[j] - ref.logit(pos + i, j, layer, head)) / rowScale);
                        }
                    }
                }
            }
            pos += len;
        }
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < c.modelLayers() * c.modelHeads(); g++) {
                state.keys().get(g, t, key, 0);
                for (int d = 0; d < c.dPrime(); d++) {
                    worstK = Math.max(worstK, Math.abs(key[d] - ref.k()[t * dim + g * c.dPrime() + d]) / kMax);
                }
            }
        }
        System.out.printf("incremental vs float64 reference (%d tokens, chunks %s): worst relative error q %.2e, k %.2e, logits %.2e%n",
                n, java.util.Arrays.toString(chunks), worstQ, worstK, worstLogit);
        assertTrue(worstQ <= TOLERANCE, "importance queries differ by " + worstQ);
        assertTrue(worstK <= TOLERANCE, "importance keys differ by " + worstK);
        assertTrue(worstLogit <= TOLERANCE, "logits differ by " + worstLogit);
    }

    static ModelFingerprint fingerprint(PredictorConfig c) {
        return new ModelFingerprint("test model", c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(), c.modelHeadSize(),
                c.modelVocab(), c.fingerprint(), new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]);
    }

    static double norm(double[] v, int tokenOff, int layer, int head, PredictorConfig c) {
        int off = tokenOff + (layer * c.modelHeads() + head) * c.dPrime();
        double s = 0;
        for (int d = 0; d < c.dPrime(); d++) s += v[off + d] * v[off + d];
        return Math.sqrt(s);
    }

    static double maxKeyNorm(ReferencePredictor.Output ref, int count, int layer, int head) {
        double m = 0;
        for (int j = 0; j < count; j++) m = Math.max(m, norm(ref.k(), j * ref.config().importanceDim(), layer, head, ref.config()));
        return m;
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    @Test void rewindingRecomputesFromThatPosition() {
        PredictorConfig c = PredictorConfig.forModel(WIDE, "test", 16, 8, 96, 2);
        PredictorWeights w = PredictorWeights.random(c, 5);
        int n = 40;
        float[] a = gaussianInputs(n, c.modelDim(), 1), b = gaussianInputs(n, c.modelDim(), 2);
        TokenButlerPredictor p = TokenButlerPredictor.of(c, w, fingerprint(c));
        ImportanceState rewound = p.newState(n, KeyPrecision.F32);
        rewound.append(0, n, a);
        rewound.append(10, n - 10, java.util.Arrays.copyOfRange(b, 10 * c.modelDim(), n * c.modelDim()));
        float[] mixed = a.clone();
        System.arraycopy(b, 10 * c.modelDim(), mixed, 10 * c.modelDim(), (n - 10) * c.modelDim());
        ImportanceState fresh = p.newState(n, KeyPrecision.F32);
        fresh.append(0, 10, a);
        fresh.append(10, n - 10, java.util.Arrays.copyOfRange(b, 10 * c.modelDim(), n * c.modelDim()));
        float[] s1 = new float[n], s2 = new float[n];
        for (int i = 0; i < n - 10; i++) {
            rewound.scores(i, 2, 5, 10 + i + 1, s1);
            fresh.scores(i, 2, 5, 10 + i + 1, s2);
            assertTrue(java.util.Arrays.equals(s1, 0, 11 + i, s2, 0, 11 + i), "scores after a rewind differ at query " + i);
        }
        rewound.reset();
        assertEquals(0, rewound.length());
        assertThrows(IllegalArgumentException.class, () -> rewound.append(1, 1, a), "a gap after the stored positions");
        assertThrows(IllegalArgumentException.class, () -> rewound.append(0, n + 1, new float[(n + 1) * c.modelDim()]), "beyond the context");
        assertThrows(IllegalArgumentException.class, () -> rewound.scores(0, 0, 0, 1, s1), "no query yet");
    }

    @Test void erfAndGeluMatchKnownValues() {
        // erf from tables (Abramowitz & Stegun 7.1), GELU(1) = 0.8413447460685429.
        assertEquals(0.0, PredictorMath.erf(0), 0);
        assertEquals(0.5204998778130465, PredictorMath.erf(0.5), 1e-15);
        assertEquals(0.8427007929497149, PredictorMath.erf(1), 1e-15);
        assertEquals(0.9953222650189527, PredictorMath.erf(2), 1e-14);
        assertEquals(-0.9999779095030014, PredictorMath.erf(-3), 1e-14);
        assertEquals(0.9999999845827421, PredictorMath.erf(4), 1e-15);
        assertEquals(0.8413447460685429, PredictorMath.gelu(1f), 1e-7);
        assertEquals(-0.04550026389635842, PredictorMath.gelu(-2f), 1e-8);
    }

    @Test void parameterCountOfThePaperDefaultsForLlama32OneB() {
        ModelConfig llama1b = new ModelConfig(2048, 8192, 16, 32, 8, 64, 128256, 131072, 1e-5f, 500000f);
        PredictorConfig c = PredictorConfig.forModel(llama1b, "x", 16, 8, 512, 0);
        assertEquals(256, c.projDim());
        assertEquals(8, c.attnHeadDim());
        long params = c.parameterCount();
        // Llama-3.2-1B: 1,235,814,400 parameters (embeddings tied).
        double ratio = params / 1_235_814_400.0;
        System.out.printf("paper-default predictor for the Llama-3.2-1B shape: %,d parameters, %.2f%% of the model%n", params, 100 * ratio);
        assertEquals(12_389_376L, params);
        assertEquals(c, PredictorConfig.forModel(llama1b, "x", 0, 0, 0, 0), "the scaled defaults are the paper's for a 1B model");
    }
}
