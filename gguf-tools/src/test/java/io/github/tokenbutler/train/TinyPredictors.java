package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;

import java.util.Random;

/** A tiny predictor shape and synthetic teacher data, for tests that must run in milliseconds. */
final class TinyPredictors {
    private TinyPredictors() {}

    /** E 8, 3 layers, 4 heads / 2 KV heads of size 4; P 4 with 2 attention heads of size 2, FFN 8, I 6, d' 4. */
    static PredictorConfig config() {
        return new PredictorConfig(8, 3, 4, 2, 4, 10, 4, 2, 8, 6, 4, 10000f, 1e-5f, "test")
                .validate("tiny test predictor");
    }

    /** Random layer-0 inputs and random queries/keys of the sparse layers. */
    static TeacherSample sample(PredictorConfig c, int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * c.modelDim()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[][] q = new float[c.modelLayers()][], k = new float[c.modelLayers()][];
        for (int l = 1; l < c.modelLayers(); l++) {
            q[l] = new float[n * c.modelHeads() * c.modelHeadSize()];
            k[l] = new float[n * c.modelKvHeads() * c.modelHeadSize()];
            for (int i = 0; i < q[l].length; i++) q[l][i] = (float) r.nextGaussian();
            for (int i = 0; i < k[l].length; i++) k[l][i] = (float) r.nextGaussian();
        }
        return new TeacherSample(n, x, q, k);
    }
}
