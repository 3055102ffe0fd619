package io.github.tokenbutler.plugin.selection;

import java.util.Locale;
import java.util.Random;

/**
 * Speed of {@link TopKSelection#select} on one thread: rows of Gaussian scores (64 different rows in turn), the
 * best quarter kept (sparsity 0.75), the best of 8 rounds of 2000 selections. Not a test:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp plugin/target/classes:plugin/target/test-classes:vendor/target/classes \
 *       io.github.tokenbutler.plugin.selection.TopKBenchmark [positions=32768] [kept share=0.25]
 * </pre>
 */
public final class TopKBenchmark {
    private TopKBenchmark() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        double keep = args.length > 1 ? Double.parseDouble(args[1]) : 0.25;
        int k = (int) (n * keep);
        Random r = new Random(1);
        float[][] rows = new float[64][n];
        for (float[] row : rows) for (int i = 0; i < n; i++) row[i] = (float) r.nextGaussian();
        int[] out = new int[n];
        TopKSelection selection = new TopKSelection(n);
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 8; round++) {
            long t0 = System.nanoTime();
            for (int j = 0; j < 2000; j++) selection.select(rows[j & 63], 0, n, k, out, 0);
            best = Math.min(best, (System.nanoTime() - t0) / 2000.0);
        }
        System.out.printf(Locale.ROOT, "top-%d of %d Gaussian scores: %.1f us a selection, %.2f ns a position (best of 8 rounds)%n",
                k, n, best / 1e3, best / n);
    }
}
