package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

import java.util.Locale;
import java.util.stream.IntStream;

/**
 * Speed of one decode step's predictor work on the Llama-3.2-1B shape at a long context: the incremental
 * predictor step ({@link ImportanceState#append} of one token) and all (layer, head) scores
 * (16 * 32 * context dot products of length 16), per key precision, on one thread and on all cores, next to the
 * runtime's dense attention of the same step. Not a test (it takes a few GB and tens of seconds):
 * <pre>
 *   java --add-modules jdk.incubator.vector -Xmx12g -cp plugin/target/classes:plugin/target/test-classes:vendor/target/classes \
 *       io.github.tokenbutler.plugin.predictor.ScoresBenchmark [context=32768] [repeats=5]
 * </pre>
 */
public final class ScoresBenchmark {
    private ScoresBenchmark() {}

    public static void main(String[] args) {
        int context = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        ModelConfig llama1b = new ModelConfig(2048, 8192, 16, 32, 8, 64, 128256, context + 1, 1e-5f, 500000f);
        PredictorConfig c = PredictorConfig.forModel(llama1b, "bench", 16, 8, 512, 0);
        TokenButlerPredictor p = TokenButlerPredictor.of(c, PredictorWeights.random(c, 1), PredictorForwardTest.fingerprint(c));
        float[] x = PredictorForwardTest.gaussianInputs(1, c.modelDim(), 2);
        int pairs = c.modelLayers() * c.modelHeads();
        int count = context + 1;
        System.out.printf(Locale.ROOT, "Llama-3.2-1B shape, context %d, %d cores; predictor %,d parameters%n", context,
                Runtime.getRuntime().availableProcessors(), c.parameterCount());
        ImportanceState shortContext = p.newState(count, KeyPrecision.Q8);
        shortContext.syntheticFill(16, 7);
        double shortNs = Double.MAX_VALUE;
        for (int r = 0; r < 3 * repeats; r++) {
            long t0 = System.nanoTime();
            shortContext.append(16, 1, x);
            shortNs = Math.min(shortNs, System.nanoTime() - t0);
        }
        System.out.printf(Locale.ROOT, "predictor step at position 16: %.2f ms (the matrix products alone)%n", shortNs / 1e6);
        for (KeyPrecision precision : KeyPrecision.values()) {
            ImportanceState s = p.newState(count, precision);
            s.syntheticFill(context, 7);
            float[][] out = new float[pairs][count];
            double appendNs = Double.MAX_VALUE, serialNs = Double.MAX_VALUE, parallelNs = Double.MAX_VALUE;
            for (int r = 0; r < repeats; r++) {
                long t0 = System.nanoTime();
                s.append(context, 1, x);
                long t1 = System.nanoTime();
                for (int g = 0; g < pairs; g++) s.scores(0, g / c.modelHeads(), g % c.modelHeads(), count, out[g]);
                long t2 = System.nanoTime();
                IntStream.range(0, pairs).parallel().forEach(g -> s.scores(0, g / c.modelHeads(), g % c.modelHeads(), count, out[g]));
                long t3 = System.nanoTime();
                appendNs = Math.min(appendNs, t1 - t0);
                serialNs = Math.min(serialNs, t2 - t1);
                parallelNs = Math.min(parallelNs, t3 - t2);
            }
            double perDot = serialNs / ((double) pairs * count);
            System.out.printf(Locale.ROOT, "%-3s keys (%d B/key, %.0f MB): predictor step %.2f ms; all scores %.1f ms on 1 thread = %.2f ns per "
                            + "(layer, head, token) = %.1f GB/s; %.1f ms on all cores = %.3f ns per (layer, head, token)%n",
                    precision, precision.bytesPerVector(c.dPrime()), s.keys().allocatedBytes() / 1e6, appendNs / 1e6, serialNs / 1e6, perDot,
                    (double) pairs * count * precision.bytesPerVector(c.dPrime()) / serialNs, parallelNs / 1e6,
                    parallelNs / ((double) pairs * count));
        }
        denseAttention(llama1b, count, repeats);
    }

    /** The runtime's dense attention for one decode step (16 layers, 32 heads over count positions), for scale. */
    private static void denseAttention(ModelConfig m, int count, int repeats) {
        int kvDim = m.kvDim(), hs = m.headSize();
        float[] keys = PredictorForwardTest.gaussianInputs(count, kvDim, 3), values = PredictorForwardTest.gaussianInputs(count, kvDim, 4);
        float[] q = PredictorForwardTest.gaussianInputs(1, m.qDim(), 5), outAll = new float[m.qDim()];
        double best = Double.MAX_VALUE;
        for (int r = 0; r < repeats; r++) {
            long t0 = System.nanoTime();
            float[] scratch = new float[count];
            for (int h = 0; h < m.nHeads(); h++) {
                DenseAttention.attendHead(q, h * hs, KvRows.wrap(keys, kvDim), KvRows.wrap(values, kvDim), (h / m.kvGroup()) * hs, hs, null, count, scratch, outAll, h * hs);
            }
            best = Math.min(best, System.nanoTime() - t0);
        }
        System.out.printf(Locale.ROOT, "runtime dense attention (DenseAttention.attendHead, 1 thread): %.1f ms per layer, %.1f ms per step of %d layers%n",
                best / 1e6, best * m.nLayers() / 1e6, m.nLayers());
    }
}
