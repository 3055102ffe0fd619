package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import org.junit.jupiter.params.ParameterizedTest;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The v2 (revised) predictor's backward pass against central finite differences of each loss, for every parameter
 * of a tiny predictor (3 layers with a producer every 2, 4 query heads on 2 KV heads, head size 4, d' 2), and its
 * forward pass against the plugin's inference state, which runs the architecture at decode time.
 */
class RevisedGradientCheckTest {
    static final int DIM = 8, LAYERS = 3, HEADS = 4, KV_HEADS = 2, HEAD_SIZE = 4, N = 6;
    static RevisedPredictorConfig config(boolean rotary) {
        return new RevisedPredictorConfig(DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, 16, 2, 5, 2, rotary, 100f, 1e-5f, "tiny").validate("test");
    }
    static final RevisedPredictorConfig CONFIG = config(false);

    static TeacherSample sample(long seed) {
        Random r = new Random(seed);
        float[][] inputs = new float[LAYERS][], queries = new float[LAYERS][], keys = new float[LAYERS][], raw = new float[LAYERS][];
        for (int l = 0; l < LAYERS; l += CONFIG.producerSpacing()) inputs[l] = gaussian(r, N * DIM);
        for (int l = 1; l < LAYERS; l++) {
            queries[l] = gaussian(r, N * HEADS * HEAD_SIZE);
            keys[l] = gaussian(r, N * KV_HEADS * HEAD_SIZE);
            raw[l] = gaussian(r, N * KV_HEADS * HEAD_SIZE);
        }
        return new TeacherSample(N, inputs[0], queries, keys, inputs, raw);
    }

    static float[] gaussian(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"KL,false", "MSE,false", "KL,true", "MSE,true"})
    void everyGradientMatchesCentralFiniteDifferences(TrainingLoss loss, boolean rotary) {
        RevisedBackprop backprop = new RevisedBackprop(config(rotary), loss);
        ParameterLayout layout = backprop.layout();
        double[] w = layout.flatten(RevisedPredictorWeights.random(config(rotary), 7).byName());
        TeacherSample s = sample(3);
        int checkedNonZero = GradientCheckTest.checkAgainstFiniteDifferences(backprop, layout, w, s);
        // layer 0's key projection and the last producer's outputs for layers past the end get no gradient
        assertTrue(checkedNonZero > layout.size() / 2, "most gradients should be non-zero, got " + checkedNonZero + " of " + layout.size());
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void theTrainingForwardGivesThePluginsLogits(boolean rotary) {
        RevisedPredictorConfig config = config(rotary);
        RevisedPredictorWeights weights = RevisedPredictorWeights.random(config, 11);
        TeacherSample s = sample(5);
        RevisedBackprop backprop = new RevisedBackprop(config, TrainingLoss.DEFAULT);
        double[] w = backprop.layout().flatten(weights.byName());
        ModelFingerprint fp = new ModelFingerprint("tiny", DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, 16, "tiny", new float[64]);
        RevisedImportanceState state = RevisedPredictor.of(config, weights, fp).newState(N, KeyPrecision.F32);
        for (int l = 0; l < LAYERS; l++) {
            float[] x = s.inputs()[l] != null ? s.inputs()[l] : new float[N * DIM];
            state.producerInput(l, 0, N, x);
            if (l > 0) {
                state.keysBeforeRope(l, 0, N, s.keysBeforeRope()[l]);
                state.keysWritten(l, 0, N, KvRows.wrap(s.keys()[l], KV_HEADS * HEAD_SIZE));
            }
        }
        float[] row = new float[N];
        double worst = 0;
        for (int l = 1; l < LAYERS; l++) {
            for (int h = 0; h < HEADS; h++) {
                state.scores(N - 1, l, h, N, row);
                double[] ref = backprop.logits(w, s, l, h, N - 1);
                for (int t = 0; t < N; t++) worst = Math.max(worst, Math.abs(ref[t] - row[t]) / (1 + Math.abs(ref[t])));
            }
        }
        assertTrue(worst < 1e-5, "float32 inference vs float64 training forward: " + worst);
    }
}
