package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionBackend;
import io.github.tokenbutler.plugin.hook.AttentionBackends;
import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.BudgetRule;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.plugin.selection.TopKSelection;
import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every production backend (the CPU's, and OpenCL's on each device found), opened as the hook opens it
 * ({@link AttentionBackend#open}) and driven through the contract the hook uses ({@link BackendAttention}: the
 * CPU's predictor appends, then each sparse layer's attend and the kept selections), against one plain
 * reference: float64 predicted logits from the predictor state's stored keys, the budget rule,
 * {@link TopKSelection#selectReference}, and float64 attention.
 *
 * <p>Selections must be the reference's, except that positions whose reference logit lies within
 * {@value #SCORE_TOLERANCE} × max |logit| of the row's last kept one may swap (a backend's float sums in another
 * order can reorder such near-ties). The attention output must be within {@value #TOLERANCE} (normalized error,
 * max |Δ| / max |ref|) of float64 attention over the backend's own selection. With sparsity 0 every position is
 * selected and the output must be the runtime's dense attention: bit for bit on the CPU (its kernel does the same
 * arithmetic), within {@value #TOLERANCE} on OpenCL (other summation order and exponential).
 *
 * <p>The shape: 3 layers, 8 query heads of 8 over 2 KV heads (gqa=kv puts 4 heads in a selection, and on OpenCL in
 * one attention work-group), d' 8; a prefill of 37 tokens then single and short chunks up to position 44. Both
 * predictor architectures: v1 (keys per query head; a device runs its step) and v2 (keys per KV head projected from
 * the layer's K rows, queries from producers at layers 0 and 2; the CPU runs it and a device copies its keys and
 * queries).
 */
class AttentionBackendContractTest {
    static final double TOLERANCE = 1e-5, SCORE_TOLERANCE = 1e-5;
    static final ModelConfig CONFIG = new ModelConfig(64, 128, 3, 8, 2, 8, 100, 64, 1e-5f, 10000f);
    static final int[] CHUNKS = {37, 1, 1, 5, 1};
    static final String[] ARCHITECTURES = {"v1", "v2"};

    /** The CPU backend and one OpenCL backend per device; without OpenCL only the CPU, except under CI=true. */
    static List<Named<AttentionBackend>> backends() {
        List<Named<AttentionBackend>> all = new ArrayList<>();
        all.add(Named.of(AttentionBackends.cpu().description(), AttentionBackends.cpu()));
        if (OpenClBackends.devices().isEmpty()) {
            if ("true".equals(System.getenv("CI"))) fail("no OpenCL under CI=true: CI installs PoCL, so the OpenCL backend must be tested there");
            return all;
        }
        for (OpenClKernels k : OpenClBackends.kernels()) {
            OpenClBackend b = new OpenClBackend(k, true);
            all.add(Named.of(b.description(), b));
        }
        return all;
    }

    static List<Arguments> sparseCases() {
        List<Arguments> all = new ArrayList<>();
        for (Named<AttentionBackend> b : backends()) {
            for (String arch : ARCHITECTURES) {
                for (KeyPrecision keys : KeyPrecision.values()) {
                    for (String gqa : new String[]{"head", "kv"}) {
                        for (String sparsity : new String[]{"0.5", "0.75"}) all.add(Arguments.of(b, arch, keys, gqa, sparsity));
                    }
                }
            }
        }
        return all;
    }

    static List<Arguments> denseCases() {
        List<Arguments> all = new ArrayList<>();
        for (Named<AttentionBackend> b : backends()) {
            for (String arch : ARCHITECTURES) for (String gqa : new String[]{"head", "kv"}) all.add(Arguments.of(b, arch, gqa));
        }
        return all;
    }

    /** One sequence through a backend; {@code check} sees each layer call's output and the backend's selections. */
    interface CallCheck {
        void call(BackendAttention backend, PlainLogits logits, AttentionOptions options, int layer, int start, int n, float[] q,
                  float[] keys, float[] values, float[] out);
    }

    /** The float64 reference of the predicted logits of a selection unit, from the predictor state's stored keys. */
    interface PlainLogits {
        void of(int token, int layer, int unit, int count, float[] out);
    }

    static final ModelFingerprint FINGERPRINT = new ModelFingerprint("test", CONFIG.dim(), CONFIG.nLayers(), CONFIG.nHeads(),
            CONFIG.nKvHeads(), CONFIG.headSize(), CONFIG.vocabSize(), "test", new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]);

    static void run(AttentionBackend backend, String arch, KeyPrecision precision, Map<String, String> optionValues, CallCheck check) {
        AttentionOptions options = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, optionValues, CONFIG);
        boolean perKvHead = options.perKvHead();
        ImportanceState state = null;
        RevisedImportanceState revised = null;
        PlainLogits logits;
        if (arch.equals("v1")) {
            PredictorConfig pc = PredictorConfig.forModel(CONFIG, "test", 0, 0, 0, 0);
            ImportanceState v1 = TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 3), FINGERPRINT).newState(CONFIG.contextLength(), precision);
            logits = perKvHead ? v1.cache()::groupScoresPlain : v1.cache()::scoresPlain;
            state = v1;
        } else {
            RevisedPredictorConfig rc = RevisedPredictorConfig.forModel(CONFIG, "test", 8, 32, 2, false);
            RevisedImportanceState v2 = RevisedPredictor.of(rc, RevisedPredictorWeights.random(rc, 3), FINGERPRINT)
                    .newState(CONFIG.contextLength(), precision, perKvHead);
            logits = perKvHead ? v2::groupScoresPlain : v2::scoresPlain;
            revised = v2;
        }
        Random r = new Random(17);
        int kvDim = CONFIG.kvDim(), qDim = CONFIG.qDim(), e = CONFIG.dim();
        float[][] keys = new float[CONFIG.nLayers()][], values = new float[CONFIG.nLayers()][];
        for (int l = 1; l < CONFIG.nLayers(); l++) {
            keys[l] = OpenClKernelsTest.random(r, CONFIG.contextLength() * kvDim);
            values[l] = OpenClKernelsTest.random(r, CONFIG.contextLength() * kvDim);
        }
        PredictedScores predicted = state != null ? PredictedScores.of(state) : PredictedScores.of(revised);
        try (BackendAttention attention = backend.open(CONFIG, options, predicted, state != null ? state : revised)) {
            int start = 0;
            for (int n : CHUNKS) {
                predicted.append(start, n, OpenClKernelsTest.random(r, n * e));
                attention.predictorAppended(start, n);
                for (int l = 1; l < CONFIG.nLayers(); l++) {
                    // as the runtime drives the hook: the layer's attention input, then its new K rows are in the cache
                    predicted.layerInput(l, start, n, OpenClKernelsTest.random(r, n * e));
                    predicted.keysWritten(l, start, n, KvRows.wrap(keys[l], kvDim));
                    float[] q = OpenClKernelsTest.random(r, n * qDim), out = new float[n * qDim];
                    long attended = attention.attend(l, start, n, 0, q, KvRows.wrap(keys[l], kvDim), KvRows.wrap(values[l], kvDim), out);
                    assertTrue(attended > 0, "the backend attended the call itself");
                    check.call(attention, logits, options, l, start, n, q, keys[l], values[l], out);
                }
                start += n;
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} keys {2} gqa {3} sparsity {4}")
    @MethodSource("sparseCases")
    void selectionsAndAttentionMatchThePlainReference(AttentionBackend backend, String arch, KeyPrecision keys, String gqa, String sparsity) {
        int headSize = CONFIG.headSize(), qDim = CONFIG.qDim(), kvDim = CONFIG.kvDim();
        boolean perKvHead = gqa.equals("kv");
        int units = perKvHead ? CONFIG.nKvHeads() : CONFIG.nHeads(), headsPerUnit = CONFIG.nHeads() / units;
        int[] swaps = new int[1];
        run(backend, arch, keys, Map.of("predictor", "x", "sparsity", sparsity, "gqa", gqa, "measure", "true"),
                (attention, plain, options, layer, start, n, q, k, v, out) -> {
            BudgetRule budget = options.budget();
            int[] selected = new int[start + n], expected = new int[start + n];
            float[] logits = new float[start + n];
            for (int i = 0; i < n; i++) {
                int p = start + i;
                for (int unit = 0; unit < units; unit++) {
                    String what = backend.description() + " layer " + layer + " position " + p + " unit " + unit;
                    int count = attention.selection(i, unit, selected);
                    int sinkEnd = budget.sinkEnd(p), recentStart = budget.recentStart(p), slots = budget.policySlots(p);
                    int expectedCount = 0;
                    float boundary = Float.NaN, largest = 0;
                    if (slots >= recentStart - sinkEnd) {
                        for (int t = 0; t <= p; t++) expected[expectedCount++] = t;
                    } else {
                        plain.of(i, layer, unit, p + 1, logits);
                        for (int t = 0; t < sinkEnd; t++) expected[expectedCount++] = t;
                        int kept = TopKSelection.selectReference(logits, sinkEnd, recentStart, slots, expected, expectedCount);
                        boundary = Float.POSITIVE_INFINITY;
                        for (int j = expectedCount; j < expectedCount + kept; j++) boundary = Math.min(boundary, logits[expected[j]]);
                        for (int t = sinkEnd; t < recentStart; t++) largest = Math.max(largest, Math.abs(logits[t]));
                        expectedCount += kept;
                        for (int t = recentStart; t <= p; t++) expected[expectedCount++] = t;
                    }
                    assertEquals(expectedCount, count, what + ": selection size");
                    if (!Arrays.equals(expected, 0, count, selected, 0, count)) {
                        // Only near-ties at the boundary may differ.
                        boolean[] in = new boolean[p + 1], ref = new boolean[p + 1];
                        for (int j = 0; j < count; j++) {
                            in[selected[j]] = true;
                            ref[expected[j]] = true;
                        }
                        for (int t = 0; t <= p; t++) {
                            if (in[t] == ref[t]) continue;
                            assertTrue(Math.abs(logits[t] - boundary) <= SCORE_TOLERANCE * largest, what + ": position " + t + " (logit "
                                    + logits[t] + ") is " + (in[t] ? "selected" : "left out") + " against the reference, whose last kept logit is "
                                    + boundary);
                        }
                        swaps[0]++;
                    }
                    int kvOff = (unit * headsPerUnit / CONFIG.kvGroup()) * headSize;
                    for (int h = unit * headsPerUnit; h < (unit + 1) * headsPerUnit; h++) {
                        int off = i * qDim + h * headSize;
                        double[] ref = OpenClKernelsTest.referenceAttention(q, off, k, v, kvDim, kvOff, headSize, selected, count);
                        double err = OpenClKernelsTest.normalizedError(Arrays.copyOfRange(out, off, off + headSize), ref, headSize);
                        assertTrue(err <= TOLERANCE, what + " head " + h + ": normalized error " + err);
                    }
                }
            }
        });
        System.out.println(backend.description() + " " + arch + " keys " + keys + " gqa " + gqa + " sparsity " + sparsity + ": " + swaps[0]
                + " selections differ from the reference by near-ties");
    }

    @ParameterizedTest(name = "{0} {1} gqa {2}")
    @MethodSource("denseCases")
    void sparseAttentionOverEveryPositionIsDenseAttention(AttentionBackend backend, String arch, String gqa) {
        int headSize = CONFIG.headSize(), qDim = CONFIG.qDim(), kvDim = CONFIG.kvDim();
        boolean cpu = backend == AttentionBackends.cpu();
        double[] worst = new double[1];
        run(backend, arch, KeyPrecision.Q8, Map.of("predictor", "x", "sparsity", "0", "gqa", gqa),
                (attention, plain, options, layer, start, n, q, k, v, out) -> {
            float[] dense = new float[n * qDim], scratch = new float[start + n];
            for (int i = 0; i < n; i++) {
                for (int h = 0; h < CONFIG.nHeads(); h++) {
                    int off = i * qDim + h * headSize;
                    DenseAttention.attendHead(q, off, KvRows.wrap(k, kvDim), KvRows.wrap(v, kvDim), (h / CONFIG.kvGroup()) * headSize, headSize,
                            null, start + i + 1, scratch, dense, off);
                }
            }
            if (cpu) {
                assertArrayEquals(dense, out, "layer " + layer + " positions " + start + ".." + (start + n - 1) + ": the CPU's sparse attention over"
                        + " every position is dense attention bit for bit");
            } else {
                double[] d = new double[dense.length];
                for (int j = 0; j < d.length; j++) d[j] = dense[j];
                double err = OpenClKernelsTest.normalizedError(out, d, out.length);
                worst[0] = Math.max(worst[0], err);
                assertTrue(err <= TOLERANCE, backend.description() + " layer " + layer + ": normalized error vs dense " + err);
            }
        });
        System.out.println(backend.description() + " " + arch + " gqa " + gqa + ", sparsity 0: " + (cpu ? "bit for bit dense attention"
                : String.format(java.util.Locale.ROOT, "worst normalized error vs dense attention %.1e", worst[0])));
    }
}
