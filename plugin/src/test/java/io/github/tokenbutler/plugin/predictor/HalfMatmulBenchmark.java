package io.github.tokenbutler.plugin.predictor;

import java.util.Locale;
import java.util.Random;

/**
 * Speed of one v2 producer projection at decode (one token, a 2048 x 512 matrix, the Llama-3.2-1B up projection)
 * from float weights and from half-precision bits ({@link PredictorMath#matmul} both ways), on the runtime's
 * threads. 16 different matrices in turn (64 MiB of floats), so they come from memory as in a decode step. The
 * median of 5 rounds of 400 products each. Not a test:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp plugin/target/classes:plugin/target/test-classes:vendor/target/classes \
 *       io.github.tokenbutler.plugin.predictor.HalfMatmulBenchmark
 * </pre>
 */
public final class HalfMatmulBenchmark {
    private HalfMatmulBenchmark() {}

    public static void main(String[] args) {
        int in = 2048, out = 512, matrices = 16, reps = 400, rounds = 5;
        float[] x = new float[in], y = new float[out];
        float[][] w = new float[matrices][in * out];
        short[][] h = new short[matrices][in * out];
        Random r = new Random(1);
        for (int i = 0; i < in; i++) x[i] = (float) r.nextGaussian();
        for (int m = 0; m < matrices; m++) {
            for (int i = 0; i < in * out; i++) {
                h[m][i] = Float.floatToFloat16((float) r.nextGaussian());
                w[m][i] = Float.float16ToFloat(h[m][i]);
            }
        }
        double[] floats = new double[rounds], halves = new double[rounds];
        for (int round = -1; round < rounds; round++) { // round -1 warms the JIT up
            long t0 = System.nanoTime();
            for (int k = 0; k < reps; k++) PredictorMath.matmul(x, 1, in, w[k % matrices], null, out, y);
            long t1 = System.nanoTime();
            for (int k = 0; k < reps; k++) PredictorMath.matmul(x, 1, in, h[k % matrices], null, out, y);
            long t2 = System.nanoTime();
            if (round >= 0) {
                floats[round] = (t1 - t0) / 1e3 / reps;
                halves[round] = (t2 - t1) / 1e3 / reps;
            }
        }
        java.util.Arrays.sort(floats);
        java.util.Arrays.sort(halves);
        System.out.printf(Locale.ROOT, "%dx%d, one token: floats %.0f us (%.0f-%.0f), halves %.0f us (%.0f-%.0f); median (range) of %d rounds%n",
                in, out, floats[rounds / 2], floats[0], floats[rounds - 1], halves[rounds / 2], halves[0], halves[rounds - 1], rounds);
    }
}
