package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.SparseAttention;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The hook's per-layer decode work (importance scoring + top-k + sparse attention, tokenbutler, sparsity 0.5,
 * Q8 keys) of one Llama-3.2-1B layer (32 heads / 8 KV heads of 64) at a long context: CPU (Vector API on the
 * runtime's pool) vs OpenCL on each device. One decode step of the full model is 15 such layers. The OpenCL time
 * includes sending the step's new K/V row and queries and reading the output back. Not a test (hundreds of MB):
 * <pre>
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -cp CLASSPATH \
 *       io.github.tokenbutler.plugin.opencl.OpenClBenchmark [context=32768] [steps=20]
 * </pre>
 */
public final class OpenClBenchmark {
    private OpenClBenchmark() {}

    public static void main(String[] args) {
        int context = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        // Two layers: layer 0 stays dense in the hook, layer 1 is the measured sparse layer.
        ModelConfig config = new ModelConfig(2048, 8192, 2, 32, 8, 64, 128256, context + steps + 1, 1e-5f, 500000f);
        PredictorConfig pc = PredictorConfig.forModel(config, "bench", 16, 8, 512, 0);
        TokenButlerPredictor predictor = TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 1), new ModelFingerprint("bench",
                pc.modelDim(), pc.modelLayers(), pc.modelHeads(), pc.modelKvHeads(), pc.modelHeadSize(), pc.modelVocab(), pc.fingerprint(),
                new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]));
        Random r = new Random(1);
        float[] keys = OpenClKernelsTest.random(r, config.contextLength() * config.kvDim());
        float[] values = OpenClKernelsTest.random(r, config.contextLength() * config.kvDim());
        float[] q = OpenClKernelsTest.random(r, config.qDim()), x = OpenClKernelsTest.random(r, config.dim());
        float[] out = new float[config.qDim()];
        AttentionOptions options = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "x", "sparsity", "0.5"), config);
        System.out.printf(Locale.ROOT, "Llama-3.2-1B layer (32 heads / 8 KV, head 64), tokenbutler sparsity 0.5, Q8 keys, context %d, %d cores%n",
                context, Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%-70s %12s %12s%n", "backend", "ms / layer", "x cpu");
        double cpu = run("cpu (Vector API)", null, KeyPrecision.F32, predictor, config, options, context, steps, q, keys, values, x, out, 0);
        for (ClDevice d : Cl.devices()) {
            try (OpenClKernels k = new OpenClKernels(d)) {
                for (KeyPrecision mirror : new KeyPrecision[]{KeyPrecision.F32, KeyPrecision.F16}) {
                    run("opencl " + d.name() + ", mirror " + mirror.optionName, k, mirror, predictor, config, options, context, steps,
                            q, keys, values, x, out, cpu);
                }
            }
        }
    }

    static double run(String name, OpenClKernels kernels, KeyPrecision mirror, TokenButlerPredictor predictor, ModelConfig config, AttentionOptions options,
                      int context, int steps, float[] q, float[] keys, float[] values, float[] x, float[] out, double cpuMs) {
        ImportanceState state = predictor.newState(config.contextLength(), KeyPrecision.Q8);
        OpenClSparseAttention device = kernels == null ? null
                : new OpenClSparseAttention(kernels, true, config, options.budget(), options.perKvHead(), state, false, mirror);
        double best = Double.MAX_VALUE;
        try (SparseAttention a = new SparseAttention(config, options, PredictedScores.of(state), device)) {
            a.syntheticPrefill(context, 3);
            for (int s = 0; s < steps; s++) {
                int p = context + s;
                a.layer0Input(p, 1, x);
                long t0 = System.nanoTime();
                a.attend(1, p, 1, q, keys, values, out);
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
        }
        System.out.printf(Locale.ROOT, "%-70s %12.2f %12s%n", name, best, cpuMs > 0 ? String.format(Locale.ROOT, "%.2f", best / cpuMs) : "1.00");
        return best;
    }
}
