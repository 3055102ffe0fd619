package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.ReferencePredictor;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The predictor's step on every OpenCL device ({@link OpenClPredictor}) against the float64
 * {@link ReferencePredictor}: tokens appended in chunks of several sizes (a prefill, single decode steps), then a
 * rewind. Normalized error (max |device − reference| / max |reference| over the importance queries, and over the
 * keys) at most {@link OpenClKernelsTest#TOLERANCE}: float32 sums in another order, and the device's float erf and
 * exp, are off from float64 by a few ulps of the largest value. The CPU path meets 2e-6 against the same reference
 * (PredictorForwardTest).
 */
class OpenClPredictorTest {
    /** Attention head size 16, d' 16, 4 query heads per KV head (the shape PredictorForwardTest calls WIDE). */
    static final ModelConfig WIDE = new ModelConfig(256, 512, 3, 8, 2, 32, 100, 512, 1e-5f, 500000f);
    /** Sizes that are no multiple of a work-group: model dim 72, d' 6, 3 predictor heads of size 6. */
    static final ModelConfig ODD = new ModelConfig(72, 96, 2, 6, 3, 12, 50, 256, 1e-5f, 10000f);

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test void deviceStepMatchesTheFloat64Reference() {
        OpenClBackends.requireOpenCl();
        check(PredictorConfig.forModel(WIDE, "test", 16, 8, 96, 2), new int[]{17, 1, 1, 33, 5}, 70);
        check(PredictorConfig.forModel(ODD, "test", 6, 4, 20, 3), new int[]{1, 9, 1}, 40);
    }

    private static void check(PredictorConfig c, int[] chunks, int n) {
        PredictorWeights w = PredictorWeights.random(c, 5);
        int e = c.modelDim(), d = c.importanceDim();
        float[] x = gaussian(n * e, 3);
        for (ClDevice device : OpenClBackends.devices()) {
            try (OpenClKernels kernels = new OpenClKernels(device);
                 OpenClPredictor predictor = new OpenClPredictor(kernels, c, w, n)) {
                float[] qi = new float[n * d], ki = new float[n * d];
                for (int pos = 0, ci = 0; pos < n; ci++) {
                    int len = Math.min(chunks[ci % chunks.length], n - pos);
                    float[] q1 = new float[len * d], k1 = new float[len * d];
                    step(predictor, pos, len, Arrays.copyOfRange(x, pos * e, (pos + len) * e), q1, k1);
                    System.arraycopy(q1, 0, qi, pos * d, len * d);
                    System.arraycopy(k1, 0, ki, pos * d, len * d);
                    pos += len;
                }
                ReferencePredictor.Output ref = ReferencePredictor.forward(c, w, x, n);
                assertClose(qi, ref.q(), n * d, device.name() + " " + c.modelShape() + " importance queries");
                assertClose(ki, ref.k(), n * d, device.name() + " " + c.modelShape() + " importance keys");

                // Rewind to position n/2 with other tokens: the device's own K/V cache is overwritten from there.
                int from = n / 2, len = 3;
                float[] x2 = x.clone();
                float[] other = gaussian(len * e, 9);
                System.arraycopy(other, 0, x2, from * e, len * e);
                float[] q2 = new float[len * d], k2 = new float[len * d];
                step(predictor, from, len, other, q2, k2);
                ReferencePredictor.Output ref2 = ReferencePredictor.forward(c, w, x2, from + len);
                assertClose(q2, Arrays.copyOfRange(ref2.q(), from * d, (from + len) * d), len * d, device.name() + " queries after a rewind");
                assertClose(k2, Arrays.copyOfRange(ref2.k(), from * d, (from + len) * d), len * d, device.name() + " keys after a rewind");
            }
        }
    }

    /** The device's step, its importance queries and keys read back into qi and ki ([n][L·H·d'] each). */
    static void step(OpenClPredictor predictor, int startPos, int n, float[] x, float[] qi, float[] ki) {
        predictor.step(startPos, n, x, (t0, first, tokens, q, k) -> {
            int d = qi.length / n;
            q.read(0, qi, t0 * d, tokens * d);
            k.read(0, ki, t0 * d, tokens * d);
        });
    }

    private static void assertClose(float[] actual, double[] expected, int count, String what) {
        double err = OpenClKernelsTest.normalizedError(actual, expected, count);
        System.out.printf("%s: normalized error %.2e%n", what, err);
        assertTrue(err <= OpenClKernelsTest.TOLERANCE, what + ": normalized error " + err + " above " + OpenClKernelsTest.TOLERANCE);
    }
}
