package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.hook.SparseAttention;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The OpenCL backend inside stories260K's real forward pass (tokenbutler policy, random-weight predictor, real
 * TinyStories text), against the CPU path: the same perplexity to 4 significant digits, in one batched call
 * (prefill-style, every position a query) and token by token (decode steps, the device mirror appended one row
 * at a time). Then the leak check: 10 000 decode-sized steps with stable handles and resident memory.
 */
class OpenClEndToEndTest {
    static final int CONTEXT = 512, LENGTH = 300;
    static Model model;
    static int[] tokens;
    static OpenClKernels kernels;

    @BeforeAll
    static void load() throws IOException {
        ClDevice device = OpenClBackends.requireOpenCl();
        kernels = new OpenClKernels(device);
        model = Model.load(SharedData.require("models/stories260K/stories260K.gguf"), new LoadOptions(CONTEXT));
        String text = Files.readString(SharedData.require("data/tinystories/valid.txt"), StandardCharsets.UTF_8);
        int[] body = model.tokenizer().encode(text.substring(0, 4000));
        tokens = new int[LENGTH];
        tokens[0] = model.tokenizer().bosId();
        System.arraycopy(body, 0, tokens, 1, LENGTH - 1);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
        if (kernels != null) kernels.close();
    }

    static ImportanceState newPredictorState(KeyPrecision keys) {
        ModelFingerprint fp = ModelFingerprint.of(model.config(), model.gguf());
        PredictorConfig pc = PredictorConfig.forModel(model.config(), fp.vocabularyHash(), 0, 0, 0, 0);
        return TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 1), fp).newState(CONTEXT, keys);
    }

    static SparseAttention open(Map<String, String> options, KeyPrecision keys, boolean onDevice) {
        Map<String, String> o = new HashMap<>(options);
        o.put("predictor", "in-memory");
        AttentionOptions parsed = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, o, model.config());
        ImportanceState state = newPredictorState(keys);
        OpenClSparseAttention device = onDevice ? new OpenClSparseAttention(kernels, true, model.config(), parsed.budget(),
                parsed.perKvHead(), state, parsed.measure() || parsed.recordLayer() >= 0, parsed.mirror()) : null;
        return device != null ? new SparseAttention(model.config(), parsed, PredictedScores.of(state), device)
                : new SparseAttention(model.config(), parsed, PredictedScores.of(state));
    }

    static double perplexity(float[] logits, int rows) {
        int vocab = model.config().vocabSize();
        double sum = 0;
        for (int i = 0; i + 1 < rows; i++) {
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (int v = 0; v < vocab; v++) max = Math.max(max, logits[i * vocab + v]);
            for (int v = 0; v < vocab; v++) z += Math.exp(logits[i * vocab + v] - max);
            sum += -(logits[i * vocab + tokens[i + 1]] - max - Math.log(z));
        }
        return Math.exp(sum / (rows - 1));
    }

    static float[] batched(SparseAttention a) {
        State state = model.newState(a);
        return model.forward(state, tokens, 0, LENGTH, 0, true);
    }

    static float[] stepByStep(SparseAttention a, int n) {
        State state = model.newState(a);
        int vocab = model.config().vocabSize();
        float[] all = new float[n * vocab];
        for (int i = 0; i < n; i++) System.arraycopy(model.forward(state, tokens, i, 1, i, false), 0, all, i * vocab, vocab);
        return all;
    }

    /**
     * The device's perplexity within 1e-4 (relative) of the CPU's: both compute in float, in other orders, with
     * other exponentials (measured differences 1e-6 to 2e-5; comparing printed digits failed at a rounding boundary).
     */
    static void assertSamePerplexity(double cpu, double device, String what) {
        assertEquals(cpu, device, 1e-4 * cpu, what);
    }

    /**
     * The committed, trained v2 predictor (test-models/stories260K.butler-v2.gguf): the CPU runs its producers and key
     * projections, the device scores its keys, selects and attends. The perplexity of a prefill and of decode steps
     * is the CPU's, and the device did the work (the attention outputs came back from it).
     */
    @Test
    void theTrainedV2PredictorOnTheDeviceGivesTheCpuPerplexity() throws Exception {
        RevisedPredictor predictor = RevisedPredictor.load(SharedData.testModel("stories260K.butler-v2.gguf"), model.info());
        for (String gqa : new String[]{"head", "kv"}) {
            for (String sparsity : new String[]{"0.5", "0.75"}) {
                Map<String, String> o = Map.of("sparsity", sparsity, "gqa", gqa, "predictor", "in-memory");
                AttentionOptions parsed = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, o, model.config());
                double[] cpu = new double[2], cl = new double[2];
                for (int device = 0; device < 2; device++) {
                    for (int decode = 0; decode < 2; decode++) {
                        RevisedImportanceState state = predictor.newState(CONTEXT, KeyPrecision.Q8);
                        BackendAttention backend = device == 1 ? new OpenClSparseAttention(kernels, true, model.config(), parsed.budget(),
                                parsed.perKvHead(), state, false, parsed.mirror()) : null;
                        ClContext.BusTraffic before = kernels.context().busTraffic();
                        try (SparseAttention a = backend != null ? new SparseAttention(model.config(), parsed, PredictedScores.of(state), backend)
                                : new SparseAttention(model.config(), parsed, PredictedScores.of(state))) {
                            double ppl = decode == 1 ? perplexity(stepByStep(a, 120), 120) : perplexity(batched(a), LENGTH);
                            (device == 1 ? cl : cpu)[decode] = ppl;
                        }
                        // every sparse layer call reads its attention output back from the device
                        long down = kernels.context().busTraffic().since(before).fromDevice();
                        if (device == 1) assertTrue(down > 0, "the device attended: " + down + " bytes came back");
                    }
                }
                System.out.printf(Locale.ROOT, "stories260K v2 %s sparsity %s: perplexity cpu %.6f opencl %.6f (prefill), %.6f %.6f (120 decode steps)%n",
                        gqa, sparsity, cpu[0], cl[0], cpu[1], cl[1]);
                assertSamePerplexity(cpu[0], cl[0], "v2 prefill gqa " + gqa + " sparsity " + sparsity);
                assertSamePerplexity(cpu[1], cl[1], "v2 decode gqa " + gqa + " sparsity " + sparsity);
            }
        }
    }

    @Test
    void perplexityOnTheDeviceEqualsTheCpuToFourSignificantDigits() {
        for (String gqa : new String[]{"head", "kv"}) {
            for (KeyPrecision keys : KeyPrecision.values()) {
                for (String sparsity : new String[]{"0.5", "0.75"}) {
                    Map<String, String> o = Map.of("sparsity", sparsity, "gqa", gqa);
                    double cpu, cl;
                    try (SparseAttention a = open(o, keys, false)) { cpu = perplexity(batched(a), LENGTH); }
                    try (SparseAttention a = open(o, keys, true)) { cl = perplexity(batched(a), LENGTH); }
                    System.out.printf(Locale.ROOT, "stories260K %s keys %s sparsity %s: perplexity cpu %.6f opencl %.6f%n", gqa, keys, sparsity, cpu, cl);
                    assertSamePerplexity(cpu, cl, "gqa " + gqa + " keys " + keys + " sparsity " + sparsity);
                }
            }
        }
    }

    /**
     * mirror=f16 rounds the device's K/V copy to half precision, so it cannot match the CPU's float caches digit
     * for digit; the bound (relative perplexity difference 1e-3) is what an F16 KV cache is expected to cost.
     */
    @Test
    void aHalfPrecisionMirrorChangesThePerplexityByLessThanOnePerMille() {
        for (String gqa : new String[]{"head", "kv"}) {
            Map<String, String> o = Map.of("sparsity", "0.5", "gqa", gqa, "mirror", "f16");
            double cpu, cl;
            try (SparseAttention a = open(o, KeyPrecision.Q8, false)) { cpu = perplexity(batched(a), LENGTH); }
            try (SparseAttention a = open(o, KeyPrecision.Q8, true)) { cl = perplexity(batched(a), LENGTH); }
            System.out.printf(Locale.ROOT, "stories260K %s, f16 mirror: perplexity cpu %.6f opencl %.6f (relative difference %.1e)%n",
                    gqa, cpu, cl, Math.abs(cl - cpu) / cpu);
            assertEquals(cpu, cl, cpu * 1e-3, "gqa " + gqa);
        }
    }

    @Test
    void theDeviceSelectsWhatTheCpuSelects() {
        Map<String, String> o = Map.of("sparsity", "0.5", "measure", "true", "record", "2:3");
        SelectionStatistics cpu, cl;
        try (SparseAttention a = open(o, KeyPrecision.Q8, false)) { batched(a); cpu = a.statistics(); }
        try (SparseAttention a = open(o, KeyPrecision.Q8, true)) { batched(a); cl = a.statistics(); }
        assertEquals(cpu.recorded.size(), cl.recorded.size());
        int identical = 0;
        for (int i = 0; i < cpu.recorded.size(); i++) if (java.util.Arrays.equals(cpu.recorded.get(i), cl.recorded.get(i))) identical++;
        System.out.printf(Locale.ROOT, "stories260K layer 2 head 3: %d of %d selections identical; hit-rate cpu %.6f opencl %.6f%n",
                identical, cpu.recorded.size(), cpu.hitRate(), cl.hitRate());
        // Scores computed in another order may swap near-ties; all but a few rows must be identical.
        assertTrue(identical >= cpu.recorded.size() * 0.98, identical + " of " + cpu.recorded.size());
        assertEquals(cpu.hitRate(), cl.hitRate(), 1e-3);
    }

    @Test
    void decodeStepsOnTheDeviceEqualTheCpu() {
        int n = 200;
        Map<String, String> o = Map.of("sparsity", "0.5");
        float[] cpu, cl;
        try (SparseAttention a = open(o, KeyPrecision.Q8, false)) { cpu = stepByStep(a, n); }
        try (SparseAttention a = open(o, KeyPrecision.Q8, true)) { cl = stepByStep(a, n); }
        double pc = perplexity(cpu, n), po = perplexity(cl, n);
        System.out.printf(Locale.ROOT, "stories260K decode %d steps: perplexity cpu %.6f opencl %.6f%n", n, pc, po);
        assertSamePerplexity(pc, po, "decode " + n + " steps");
    }

    /**
     * Under backend=auto a device that fails mid-sequence (here: an injected CL_OUT_OF_RESOURCES at a predictor
     * step, and at a layer call, {@link FailingKernels}) hands the CPU the complete state, read back from the
     * device (whose predictor state never went to the host before): the decode goes on there and gives the CPU's
     * perplexity.
     */
    @Test
    void aDeviceLostMidSequenceUnderAutoLeavesTheCpuTheWholeState() {
        int n = 120;
        Map<String, String> o = Map.of("sparsity", "0.5");
        float[] cpu;
        try (SparseAttention a = open(o, KeyPrecision.Q8, false)) { cpu = stepByStep(a, n); }
        double pc = perplexity(cpu, n);
        // Each step is one predictor call and nLayers - 1 layer calls: 60 steps in, a predictor call; then a layer call.
        int perStep = model.config().nLayers();
        for (int failAt : new int[]{60 * perStep, 61 * perStep + 2}) {
            Map<String, String> parsedOptions = new HashMap<>(o);
            parsedOptions.put("predictor", "in-memory");
            AttentionOptions parsed = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, parsedOptions, model.config());
            ImportanceState state = newPredictorState(KeyPrecision.Q8);
            OpenClSparseAttention device = new OpenClSparseAttention(new FailingKernels(kernels.context(), failAt), false, model.config(),
                    parsed.budget(), parsed.perKvHead(), state, false, parsed.mirror());
            double po;
            try (SparseAttention a = new SparseAttention(model.config(), parsed, PredictedScores.of(state), device)) {
                po = perplexity(stepByStep(a, n), n);
            }
            System.out.printf(Locale.ROOT, "stories260K decode %d steps, device lost at call %d: perplexity cpu %.6f, opencl then cpu %.6f%n",
                    n, failAt, pc, po);
            assertEquals(-1, device.attend(1, 0, 1, 0, new float[model.config().qDim()], KvRows.wrap(new float[0], model.config().kvDim()), KvRows.wrap(new float[0], model.config().kvDim()), new float[0]),
                    "after the failure the device declines every call");
            assertSamePerplexity(pc, po, "decode " + n + " steps");
        }
    }

    /**
     * The same with the trained v2 predictor, whose state the CPU always holds: the device fails at a layer call 60
     * decode steps in, declines from then on, and the CPU attends the rest with nothing handed over.
     */
    @Test
    void aDeviceLostMidSequenceWithAV2PredictorLeavesTheCpuGoingOn() throws Exception {
        int n = 120;
        RevisedPredictor predictor = RevisedPredictor.load(SharedData.testModel("stories260K.butler-v2.gguf"), model.info());
        AttentionOptions parsed = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("sparsity", "0.5", "predictor", "in-memory"),
                model.config());
        double pc, po;
        RevisedImportanceState cpuState = predictor.newState(CONTEXT, KeyPrecision.Q8);
        try (SparseAttention a = new SparseAttention(model.config(), parsed, PredictedScores.of(cpuState))) { pc = perplexity(stepByStep(a, n), n); }
        // v2 counts only the layer calls' scoring: nLayers - 1 a step
        int failAt = 60 * (model.config().nLayers() - 1) + 1;
        RevisedImportanceState state = predictor.newState(CONTEXT, KeyPrecision.Q8);
        OpenClSparseAttention device = new OpenClSparseAttention(new FailingKernels(kernels.context(), failAt), false, model.config(),
                parsed.budget(), parsed.perKvHead(), state, false, parsed.mirror());
        try (SparseAttention a = new SparseAttention(model.config(), parsed, PredictedScores.of(state), device)) {
            po = perplexity(stepByStep(a, n), n);
        }
        System.out.printf(Locale.ROOT, "stories260K v2 decode %d steps, device lost at call %d: perplexity cpu %.6f, opencl then cpu %.6f%n",
                n, failAt, pc, po);
        assertEquals(-1, device.attend(1, 0, 1, 0, new float[model.config().qDim()], KvRows.wrap(new float[0], model.config().kvDim()),
                KvRows.wrap(new float[0], model.config().kvDim()), new float[0]), "after the failure the device declines every call");
        assertSamePerplexity(pc, po, "v2 decode " + n + " steps");
    }

    @Test
    void tenThousandDecodeStepsLeakNothing() {
        var config = model.config();
        ImportanceState state = newPredictorState(KeyPrecision.Q8);
        AttentionOptions parsed = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "x", "sparsity", "0.5"), config);
        Random r = new Random(2);
        float[] x = OpenClKernelsTest.random(r, config.dim());
        float[] keys = OpenClKernelsTest.random(r, CONTEXT * config.kvDim()), values = OpenClKernelsTest.random(r, CONTEXT * config.kvDim());
        float[] q = OpenClKernelsTest.random(r, config.qDim()), out = new float[config.qDim()];
        // A session builds the predictor's kernels once per context (they stay cached): count resources after that.
        new OpenClSparseAttention(kernels, true, config, parsed.budget(), false, state, false, KeyPrecision.F32).close();
        int resourcesBefore = kernels.context().openResources();
        long rssWarm = 0;
        int steps = 10_000, cycle = 256;
        long t0 = System.nanoTime();
        try (OpenClSparseAttention device = new OpenClSparseAttention(kernels, true, config, parsed.budget(), false, state, false, KeyPrecision.F32)) {
            for (int step = 0; step < steps; step++) {
                int p = step % cycle;
                if (p == 0) {
                    state.reset();
                    device.reset();
                }
                assertTrue(device.appendPredictor(p, 1, x), "the device runs the predictor's step");
                assertTrue(device.attend(1 + step % (config.nLayers() - 1), p, 1, 0, q, KvRows.wrap(keys, config.kvDim()), KvRows.wrap(values, config.kvDim()), out) > 0);
                if (step == 999) {
                    // Collected first, so that the heap's own growth (the young generation expanding in a fresh JVM:
                    // +50 to +130 MiB when this test ran alone) does not read as a leak.
                    System.gc();
                    rssWarm = residentBytes();
                }
            }
        }
        System.gc();
        long rssEnd = residentBytes();
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "leak check: %d decode steps (the predictor's step, then scoring, top-k and attention) in %.1f s; resident memory after 1000 steps %d MiB,"
                + " after %d steps %d MiB; open OpenCL resources before %d, after %d%n", steps, seconds, rssWarm >> 20, steps,
                rssEnd >> 20, resourcesBefore, kernels.context().openResources());
        assertEquals(resourcesBefore, kernels.context().openResources(), "every buffer of the session is released");
        assertTrue(rssEnd - rssWarm < 64L << 20, "resident memory grew by " + ((rssEnd - rssWarm) >> 20) + " MiB over 9000 steps");
    }

    /**
     * A Llama-1B-shaped layer (32 heads / 8 KV heads of 64, d' 16) at a context that is not a multiple of the
     * work-group rounding (1028): the device's decode steps after a synthetic prefill give the CPU's output.
     * (Buffers sized by the padded context instead of the rounded row stride once wrote past their end.) With
     * gqa=kv the attention kernel takes the 4 query heads of a KV head in one work-group.
     */
    @ParameterizedTest
    @ValueSource(strings = {"head", "kv"})
    void unalignedContextOnALlamaShapedLayerMatchesTheCpu(String gqa) {
        int context = 1000, steps = 27;
        ModelConfig config = new ModelConfig(2048, 8192, 2, 32, 8, 64, 1000, context + steps + 1, 1e-5f, 500000f);
        PredictorConfig pc = PredictorConfig.forModel(config, "test", 16, 8, 512, 0);
        TokenButlerPredictor predictor = TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 1), new ModelFingerprint("test",
                pc.modelDim(), pc.modelLayers(), pc.modelHeads(), pc.modelKvHeads(), pc.modelHeadSize(), pc.modelVocab(), pc.fingerprint(),
                new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]));
        Random r = new Random(4);
        float[] keys = OpenClKernelsTest.random(r, config.contextLength() * config.kvDim());
        float[] values = OpenClKernelsTest.random(r, config.contextLength() * config.kvDim());
        float[] x = OpenClKernelsTest.random(r, config.dim());
        AttentionOptions options = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "x", "sparsity", "0.5", "gqa", gqa), config);
        ImportanceState cpuState = predictor.newState(config.contextLength()), clState = predictor.newState(config.contextLength());
        double worst = 0;
        try (SparseAttention cpu = new SparseAttention(config, options, PredictedScores.of(cpuState));
             SparseAttention cl = new SparseAttention(config, options, PredictedScores.of(clState),
                     new OpenClSparseAttention(kernels, true, config, options.budget(), options.perKvHead(), clState, false, KeyPrecision.F32))) {
            cpu.syntheticPrefill(context, 3);
            cl.syntheticPrefill(context, 3);
            for (int p = context; p < context + steps; p++) {
                float[] q = OpenClKernelsTest.random(r, config.qDim()), a = new float[config.qDim()], b = new float[config.qDim()];
                cpu.attentionInput(0, p, 1, x);
                cl.attentionInput(0, p, 1, x);
                assertTrue(cpu.attend(1, p, 1, q, KvRows.wrap(keys, config.kvDim()), KvRows.wrap(values, config.kvDim()), a));
                assertTrue(cl.attend(1, p, 1, q, KvRows.wrap(keys, config.kvDim()), KvRows.wrap(values, config.kvDim()), b));
                double[] ref = new double[a.length];
                for (int i = 0; i < a.length; i++) ref[i] = a[i];
                worst = Math.max(worst, OpenClKernelsTest.normalizedError(b, ref, a.length));
            }
        }
        System.out.printf(Locale.ROOT, "Llama-shaped layer, gqa=%s, context %d, %d decode steps: worst normalized error opencl vs cpu %.2e%n",
                gqa, context, steps, worst);
        assertTrue(worst <= OpenClKernelsTest.TOLERANCE, "normalized error " + worst);
    }

    /** VmRSS of this process (Linux); 0 elsewhere. */
    static long residentBytes() {
        try {
            for (String line : Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
