package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.runtime.Llama3.KvRows;
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
 *       io.github.tokenbutler.plugin.opencl.OpenClBenchmark [context=32768] [steps=20] [gqa=head|kv] [v2]
 * </pre>
 * With {@code v2} only {@link #splitRevised} runs.
 */
public final class OpenClBenchmark {
    private OpenClBenchmark() {}

    public static void main(String[] args) {
        int context = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        String gqa = args.length > 2 ? args[2] : "head";
        if (args.length > 3 && args[3].equals("v2")) {
            for (ClDevice d : Cl.devices()) {
                try (OpenClKernels k = new OpenClKernels(d)) {
                    for (OpenClKernels.Form form : OpenClKernels.Form.values()) splitRevised(k, form, context, steps, gqa.equals("kv"));
                }
            }
            return;
        }
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
        AttentionOptions options = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "x", "sparsity", "0.5", "gqa", gqa), config);
        System.out.printf(Locale.ROOT, "Llama-3.2-1B layer (32 heads / 8 KV, head 64), tokenbutler sparsity 0.5, gqa=%s, Q8 keys, context %d, %d cores%n",
                gqa, context, Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%-70s %12s %12s%n", "backend", "ms / layer", "x cpu");
        double cpu = run("cpu (Vector API)", null, KeyPrecision.F32, predictor, config, options, context, steps, q, keys, values, x, out, 0);
        for (ClDevice d : Cl.devices()) {
            try (OpenClKernels k = new OpenClKernels(d)) {
                for (KeyPrecision mirror : new KeyPrecision[]{KeyPrecision.F32, KeyPrecision.F16}) {
                    run("opencl " + d.name() + ", mirror " + mirror.optionName, k, mirror, predictor, config, options, context, steps,
                            q, keys, values, x, out, cpu);
                }
                split(k, config, options, context, steps, false);
                split(k, config, options, context, steps, true);
            }
        }
    }

    /**
     * Each kernel of one decode step alone (32 query heads, position {@code context}, synthetic inputs already on
     * the device, a clFinish after each launch), best of {@code steps}: where the device's time goes.
     */
    static void split(OpenClKernels k, ModelConfig config, AttentionOptions options, int context, int steps, boolean perKvHead) {
        ClContext ctx = k.context();
        int headsPerUnit = perKvHead ? config.kvGroup() : 1;
        int units = config.nHeads() / headsPerUnit, p = context, stride = (int) OpenClKernels.roundUp(p + 1, OpenClKernels.SCORE_GROUP);
        int dPrime = 16, groups = config.nLayers() * config.nHeads(), positionsPadded = (int) OpenClKernels.roundUp(p + 1, 16);
        Random r = new Random(7);
        var budget = options.budget();
        double scoring = Double.MAX_VALUE, topK = Double.MAX_VALUE;
        double[] attention = {Double.MAX_VALUE, Double.MAX_VALUE};
        try (ClBuffer keys = ctx.buffer((long) groups * positionsPadded * dPrime, "keys");
             ClBuffer scales = ctx.buffer((long) groups * positionsPadded * 4, "scales");
             ClBuffer queries = ctx.buffer((long) groups * dPrime * 4, "queries");
             ClBuffer scores = ctx.buffer((long) units * stride * 4, "scores");
             ClBuffer budgets = ctx.buffer(16, "budgets");
             ClBuffer indices = ctx.buffer((long) units * stride * 4, "indices");
             ClBuffer counts = ctx.buffer((long) units * 4, "counts");
             ClBuffer weights = ctx.buffer((long) config.nHeads() * stride * 4, "weights");
             ClBuffer q = ctx.buffer((long) config.qDim() * 4, "q");
             ClBuffer out = ctx.buffer((long) config.qDim() * 4, "out");
             ClBuffer kv32 = ctx.buffer((long) (p + 1) * config.kvDim() * 4, "kv f32");
             ClBuffer kv16 = ctx.buffer((long) (p + 1) * config.kvDim() * 2, "kv f16")) {
            byte[] b = new byte[groups * positionsPadded * dPrime];
            r.nextBytes(b);
            keys.write(b, 0, b.length, 0);
            scales.write(OpenClKernelsTest.random(r, groups * positionsPadded), 0, groups * positionsPadded, 0);
            queries.write(OpenClKernelsTest.random(r, groups * dPrime), 0, groups * dPrime, 0);
            q.write(OpenClKernelsTest.random(r, config.qDim()), 0, config.qDim(), 0);
            float[] kv = OpenClKernelsTest.random(r, (p + 1) * config.kvDim());
            kv32.write(kv, 0, kv.length, 0);
            OpenClKernels.writeMirror(kv16, KeyPrecision.F16, kv, 0, kv.length, 0, new short[OpenClKernels.HALF_CHUNK]);
            budgets.write(new int[]{budget.sinkEnd(p), budget.recentStart(p), budget.policySlots(p), p}, 0, 4, 0);
            for (int s = 0; s < steps; s++) {
                long t0 = System.nanoTime();
                k.runScoring(KeyPrecision.Q8, keys, scales, positionsPadded * dPrime, positionsPadded, dPrime, queries, groups * dPrime,
                        0, OpenClKernels.ScoringGroups.perQueryHead(1, config.nHeads()), headsPerUnit, 0.25f, p, units, scores, stride, 1);
                ctx.finish();
                long t1 = System.nanoTime();
                k.runTopK(scores, stride, units, budgets, indices, stride, counts, 1);
                ctx.finish();
                long t2 = System.nanoTime();
                scoring = Math.min(scoring, (t1 - t0) / 1e6);
                topK = Math.min(topK, (t2 - t1) / 1e6);
                KeyPrecision[] mirrors = {KeyPrecision.F32, KeyPrecision.F16};
                for (int m = 0; m < 2; m++) {
                    long t3 = System.nanoTime();
                    k.runAttention(q, config.qDim(), m == 0 ? kv32 : kv16, m == 0 ? kv32 : kv16, mirrors[m], config.kvDim(),
                            config.headSize(), config.kvGroup(), headsPerUnit, units, indices, stride, counts, weights, stride,
                            0.125f, out, config.nHeads(), 1);
                    ctx.finish();
                    attention[m] = Math.min(attention[m], (System.nanoTime() - t3) / 1e6);
                }
            }
        }
        System.out.printf(Locale.ROOT, "kernels alone, context %d, gqa=%s (%d selections): scoring %.2f ms, top-k %.2f ms, attention %.2f ms"
                + " (f32 mirror) / %.2f ms (f16 mirror)%n", context, perKvHead ? "kv" : "head", units, scoring, topK, attention[0], attention[1]);
    }

    /**
     * Each kernel of one layer's decode step alone with a v2 predictor's keys (one group per KV head, Q8), sparsity
     * 0.75 (8 sinks, a window of 128), an F16 mirror, best of {@code steps}; the K/V mirrors of 15 layers are used in
     * turn so that a layer's rows are out of cache, as in a decode step. Then the three chained with the call's
     * transfers on a held queue (one wait at the end, as OpenClSparseAttention runs them on a CPU device).
     */
    static void splitRevised(OpenClKernels k, OpenClKernels.Form form, int context, int steps, boolean perKvHead) {
        ClContext ctx = k.context();
        int nHeads = 32, kvHeads = 8, headSize = 64, kvDim = kvHeads * headSize, qDim = nHeads * headSize, dPrime = 16, layers = 15;
        int kvGroup = nHeads / kvHeads, units = perKvHead ? kvHeads : nHeads, headsPerUnit = nHeads / units;
        int p = context - 1, stride = (int) OpenClKernels.roundUp(p + 1, OpenClKernels.SCORE_GROUP);
        int positionsPadded = (int) OpenClKernels.roundUp(p + 1, 16), groups = (layers + 1) * kvHeads;
        int sinkEnd = 8, recentStart = p + 1 - 128, slots = (int) Math.round(0.25 * (p + 1)) - sinkEnd - 128;
        int[] budget = {sinkEnd, recentStart, slots, p};
        Random r = new Random(7);
        var scoring = new OpenClKernels.ScoringGroups(0, 5 * kvHeads, perKvHead ? 1 : kvGroup);
        double score = Double.MAX_VALUE, topK = Double.MAX_VALUE, attention = Double.MAX_VALUE, chained = Double.MAX_VALUE;
        ClBuffer[] keyMirror = new ClBuffer[layers], valueMirror = new ClBuffer[layers];
        try (ClBuffer keys = ctx.buffer((long) groups * positionsPadded * dPrime, "keys");
             ClBuffer scales = ctx.buffer((long) groups * positionsPadded * 4, "scales");
             ClBuffer queries = ctx.buffer((long) units * dPrime * 4, "queries");
             ClBuffer scores = ctx.buffer((long) units * stride * 4, "scores");
             ClBuffer budgets = ctx.buffer(16, "budgets");
             ClBuffer indices = ctx.buffer((long) units * stride * 4, "indices");
             ClBuffer counts = ctx.buffer((long) units * 4, "counts");
             ClBuffer weights = ctx.buffer((long) nHeads * stride * 4, "weights");
             ClBuffer q = ctx.buffer((long) qDim * 4, "q");
             ClBuffer out = ctx.buffer((long) qDim * 4, "out")) {
            byte[] b = new byte[groups * positionsPadded * dPrime];
            r.nextBytes(b);
            keys.write(b, 0, b.length, 0);
            scales.write(OpenClKernelsTest.random(r, groups * positionsPadded), 0, groups * positionsPadded, 0);
            float[] qv = OpenClKernelsTest.random(r, qDim), kv = OpenClKernelsTest.random(r, (p + 1) * kvDim), result = new float[qDim];
            q.write(qv, 0, qDim, 0);
            queries.write(qv, 0, units * dPrime, 0);
            short[] scratch = new short[OpenClKernels.HALF_CHUNK];
            for (int l = 0; l < layers; l++) {
                keyMirror[l] = ctx.buffer((long) (p + 1) * kvDim * 2, "K mirror " + l);
                valueMirror[l] = ctx.buffer((long) (p + 1) * kvDim * 2, "V mirror " + l);
                OpenClKernels.writeMirror(keyMirror[l], KeyPrecision.F16, kv, 0, kv.length, 0, scratch);
                OpenClKernels.writeMirror(valueMirror[l], KeyPrecision.F16, kv, 0, kv.length, 0, scratch);
            }
            budgets.write(budget, 0, 4, 0);
            ctx.finish();
            for (int s = 0; s < steps; s++) {
                ClBuffer kl = keyMirror[s % layers], vl = valueMirror[s % layers];
                long t0 = System.nanoTime();
                k.runScoring(KeyPrecision.Q8, keys, scales, positionsPadded * dPrime, positionsPadded, dPrime, queries, units * dPrime, 0,
                        scoring, 1, 0.25f, p, units, scores, stride, 1);
                ctx.finish();
                long t1 = System.nanoTime();
                k.runTopK(form, scores, stride, units, budgets, indices, stride, counts, 1);
                ctx.finish();
                long t2 = System.nanoTime();
                k.runAttention(form, q, qDim, kl, vl, KeyPrecision.F16, kvDim, headSize, kvGroup, headsPerUnit, units, indices, stride, counts,
                        weights, stride, 0.125f, out, nHeads, 1);
                ctx.finish();
                long t3 = System.nanoTime();
                ClBuffer kn = keyMirror[(s + 7) % layers], vn = valueMirror[(s + 7) % layers];
                ctx.hold();
                budgets.write(budget, 0, 4, 0);
                q.write(qv, 0, qDim, 0);
                queries.write(qv, 0, units * dPrime, 0);
                k.runScoring(KeyPrecision.Q8, keys, scales, positionsPadded * dPrime, positionsPadded, dPrime, queries, units * dPrime, 0,
                        scoring, 1, 0.25f, p, units, scores, stride, 1);
                k.runTopK(form, scores, stride, units, budgets, indices, stride, counts, 1);
                k.runAttention(form, q, qDim, kn, vn, KeyPrecision.F16, kvDim, headSize, kvGroup, headsPerUnit, units, indices, stride, counts,
                        weights, stride, 0.125f, out, nHeads, 1);
                out.read(0, result, 0, qDim);
                long t4 = System.nanoTime();
                score = Math.min(score, (t1 - t0) / 1e6);
                topK = Math.min(topK, (t2 - t1) / 1e6);
                attention = Math.min(attention, (t3 - t2) / 1e6);
                chained = Math.min(chained, (t4 - t3) / 1e6);
            }
        } finally {
            for (int l = layers - 1; l >= 0; l--) {
                if (valueMirror[l] != null) valueMirror[l].close();
                if (keyMirror[l] != null) keyMirror[l].close();
            }
        }
        System.out.printf(Locale.ROOT, "v2 kernels alone, %s form, context %d, gqa=%s, sparsity 0.75, f16 mirror out of cache: scoring %.3f ms,"
                + " top-k %.3f ms, attention %.3f ms; chained with the call's transfers %.3f ms%n", form, context, perKvHead ? "kv" : "head",
                score, topK, attention, chained);
    }

    static double run(String name, OpenClKernels kernels, KeyPrecision mirror, TokenButlerPredictor predictor, ModelConfig config, AttentionOptions options,
                      int context, int steps, float[] q, float[] keys, float[] values, float[] x, float[] out, double cpuMs) {
        ImportanceState state = predictor.newState(config.contextLength(), KeyPrecision.Q8);
        OpenClSparseAttention device = kernels == null ? null
                : new OpenClSparseAttention(kernels, true, config, options.budget(), options.perKvHead(), state, false, mirror);
        double best = Double.MAX_VALUE;
        try (SparseAttention a = device != null ? new SparseAttention(config, options, PredictedScores.of(state), device)
                : new SparseAttention(config, options, PredictedScores.of(state))) {
            a.syntheticPrefill(context, 3);
            for (int s = 0; s < steps; s++) {
                int p = context + s;
                a.attentionInput(0, p, 1, x);
                long t0 = System.nanoTime();
                a.attend(1, p, 1, q, KvRows.wrap(keys, config.kvDim()), KvRows.wrap(values, config.kvDim()), out);
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
        }
        System.out.printf(Locale.ROOT, "%-70s %12.2f %12s%n", name, best, cpuMs > 0 ? String.format(Locale.ROOT, "%.2f", best / cpuMs) : "1.00");
        return best;
    }
}
