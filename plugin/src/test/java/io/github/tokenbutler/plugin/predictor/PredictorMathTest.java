package io.github.tokenbutler.plugin.predictor;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The predictor's Vector API kernels against the plain loops beside them ({@code dot}, {@code matmul},
 * {@code softmaxUnnormalized} vs their {@code ...Plain} forms), lengths around the vector width and far beyond.
 * They sum in another order (lane sums, then the lanes), so the bound is on the normalized error,
 * max |fast − plain| / max |plain| ≤ {@value #TOLERANCE}: float32 sums of up to a few thousand terms in two orders
 * differ by up to about n ulps of the largest partial sum (1.7e-6 measured at 4099 terms).
 */
class PredictorMathTest {
    static final double TOLERANCE = 1e-5;

    static float[] gaussian(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static double normalizedError(float[] fast, float[] plain) {
        double max = 1e-30, err = 0;
        for (int i = 0; i < plain.length; i++) {
            max = Math.max(max, Math.abs(plain[i]));
            double e = Math.abs(fast[i] - plain[i]);
            if (!(e <= err)) err = e;
        }
        return err / max;
    }

    @ParameterizedTest(name = "input length {0}")
    @ValueSource(ints = {1, 7, 16, 17, 31, 32, 33, 100, 1000, 4099})
    void halfPrecisionWeightsGiveTheFloatMatmulOfTheirValuesExactly(int inDim) {
        Random r = new Random(inDim);
        int n = 3, outDim = 37;
        float[] x = gaussian(r, n * inDim), w = gaussian(r, outDim * inDim), bias = gaussian(r, outDim);
        short[] h = new short[w.length];
        for (int i = 0; i < w.length; i++) {
            h[i] = Float.floatToFloat16(w[i]);
            w[i] = Float.float16ToFloat(h[i]);
        }
        h[0] = Float.floatToFloat16(3e-6f); // a subnormal half
        w[0] = Float.float16ToFloat(h[0]);
        float[] fromHalf = new float[n * outDim], fromFloat = new float[n * outDim];
        PredictorMath.matmul(x, n, inDim, h, bias, outDim, fromHalf);
        PredictorMath.matmul(x, n, inDim, w, bias, outDim, fromFloat);
        org.junit.jupiter.api.Assertions.assertArrayEquals(fromFloat, fromHalf);
    }

    @ParameterizedTest(name = "input length {0}")
    @ValueSource(ints = {1, 7, 16, 17, 100, 1000, 4099})
    void matmulMatchesThePlainLoops(int inDim) {
        Random r = new Random(inDim);
        int n = 3, outDim = 37;
        float[] x = gaussian(r, n * inDim), w = gaussian(r, outDim * inDim), bias = gaussian(r, outDim);
        float[] fast = new float[n * outDim], plain = new float[n * outDim];
        PredictorMath.matmul(x, n, inDim, w, bias, outDim, fast);
        PredictorMath.matmulPlain(x, n, inDim, w, bias, outDim, plain);
        double err = normalizedError(fast, plain);
        assertTrue(err <= TOLERANCE, "matmul, input length " + inDim + ": normalized error " + err);
        float dot = PredictorMath.dot(x, 0, w, inDim, inDim), dotPlain = PredictorMath.dotPlain(x, 0, w, inDim, inDim);
        double dotErr = Math.abs(dot - dotPlain) / Math.max(1e-30, Math.abs(plain[1] - bias[1]));
        assertTrue(dotErr <= TOLERANCE, "dot, length " + inDim + ": error " + dotErr + " relative to the row's product");
    }

    @ParameterizedTest(name = "length {0}")
    @ValueSource(ints = {1, 7, 16, 17, 100, 1000, 4099})
    void softmaxUnnormalizedMatchesThePlainLoop(int count) {
        Random r = new Random(count);
        float[] s = gaussian(r, count);
        for (int i = 0; i < count; i++) s[i] *= 8;
        float[] fast = s.clone(), plain = s.clone();
        float sumFast = PredictorMath.softmaxUnnormalized(fast, count), sumPlain = PredictorMath.softmaxUnnormalizedPlain(plain, count);
        double err = normalizedError(fast, plain);
        assertTrue(err <= TOLERANCE, "softmax values, length " + count + ": normalized error " + err);
        double sumErr = Math.abs(sumFast - sumPlain) / sumPlain;
        assertTrue(sumErr <= TOLERANCE, "softmax sum, length " + count + ": relative error " + sumErr);
    }
}
