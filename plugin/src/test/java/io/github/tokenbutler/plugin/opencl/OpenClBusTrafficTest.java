package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bytes that cross the bus in one decode step of the tokenbutler policy on a device (the predictor's step,
 * then scoring, top-k and attention of layers 1..L-1), counted by the context's transfers
 * ({@link ClContext#busTraffic}) and checked against what the step has to move: up, the token's layer-0 input,
 * the rotary angles (computed on the host in double precision), and per layer the new K/V row, the budget and
 * the queries; down, per layer the attention output. The importance queries and keys stay on the device, which
 * quantizes the keys itself.
 */
class OpenClBusTrafficTest {
    /** stories260K's shape (dim 64, 5 layers, 8 heads / 4 KV heads of 8) and Llama-3.2-1B's (2048, 16, 32 / 8 of 64). */
    static final ModelConfig STORIES = new ModelConfig(64, 172, 5, 8, 4, 8, 512, 128, 1e-5f, 10000f);
    static final ModelConfig LLAMA_1B = new ModelConfig(2048, 8192, 16, 32, 8, 64, 1000, 128, 1e-5f, 500000f);

    static List<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (KeyPrecision keys : KeyPrecision.values()) all.add(Arguments.of("stories260K", STORIES, keys));
        all.add(Arguments.of("llama-1b", LLAMA_1B, KeyPrecision.Q8));
        return all;
    }

    @ParameterizedTest(name = "{0} keys {2}")
    @MethodSource("cases")
    void aDecodeStepMovesOnlyItsInputsAndTheAttentionOutput(String shape, ModelConfig config, KeyPrecision keys) {
        OpenClKernels kernels = OpenClBackends.kernels().getFirst();
        PredictorConfig pc = PredictorConfig.forModel(config, "test", 0, 0, 0, 0);
        TokenButlerPredictor predictor = TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 1), new ModelFingerprint("test",
                pc.modelDim(), pc.modelLayers(), pc.modelHeads(), pc.modelKvHeads(), pc.modelHeadSize(), pc.modelVocab(), pc.fingerprint(),
                new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]));
        ImportanceState state = predictor.newState(config.contextLength(), keys);
        AttentionOptions options = AttentionOptions.parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "x", "sparsity", "0.5"), config);
        Random r = new Random(7);
        int prefill = 40, e = config.dim(), qDim = config.qDim(), kvDim = config.kvDim(), layers = config.nLayers();
        float[] x = OpenClKernelsTest.random(r, (prefill + 1) * e);
        float[] q = OpenClKernelsTest.random(r, prefill * qDim), out = new float[prefill * qDim];
        KvRows k = KvRows.wrap(OpenClKernelsTest.random(r, config.contextLength() * kvDim), kvDim);
        KvRows v = KvRows.wrap(OpenClKernelsTest.random(r, config.contextLength() * kvDim), kvDim);
        ClContext.BusTraffic step;
        try (OpenClSparseAttention device = new OpenClSparseAttention(kernels, true, config, options.budget(), false, state, false, KeyPrecision.F32)) {
            assertTrue(device.appendPredictor(0, prefill, x));
            for (int l = 1; l < layers; l++) device.attend(l, 0, prefill, 0, q, k, v, out);
            ClContext.BusTraffic before = kernels.context().busTraffic();
            assertTrue(device.appendPredictor(prefill, 1, java.util.Arrays.copyOfRange(x, prefill * e, (prefill + 1) * e)));
            for (int l = 1; l < layers; l++) device.attend(l, prefill, 1, 0, q, k, v, out);
            step = kernels.context().busTraffic().since(before);
        }
        // What a decode step must move: the token's input and the rotary angles (cos and sin of the predictor's
        // attention heads and of the importance vectors) up; per layer the new K and V rows (F32 mirror), the budget
        // (4 ints) and the queries up, the output down.
        long inputs = 4L * e + 4L * pc.attnHeadDim() + 4L * pc.dPrime();
        long perLayerUp = 2L * kvDim * 4 + 16 + 4L * qDim, perLayerDown = 4L * qDim;
        long needUp = inputs + (layers - 1) * perLayerUp, needDown = (layers - 1) * perLayerDown;
        // What the importance state's round trip through the host cost before the device quantized the keys itself:
        // queries and keys (and the predictor's own K/V rows) read back, the keys quantized on the host and their
        // block of 16 positions sent up again with the queries. Printed for comparison; none of it crosses now.
        int groups = pc.modelLayers() * pc.modelHeads();
        long d = pc.importanceDim(), p = pc.projDim();
        long rowWidth = keys == KeyPrecision.Q4 ? (pc.dPrime() + 1) / 2 : pc.dPrime();
        long keyBlocks = groups * (16 * rowWidth * OpenClKernels.keyBytes(keys) + (keys == KeyPrecision.Q8 || keys == KeyPrecision.Q4 ? 4 : 0));
        long roundTripUp = keyBlocks + 4 * d, roundTripDown = 8 * d + 8 * p;
        System.out.printf(Locale.ROOT, "bus bytes per decode step, %s shape, keys %s: %d up, %d down (%d in all); "
                        + "the inputs and outputs alone: %d up, %d down; the host round trip of the importance state it no longer makes: %d up, %d down%n",
                shape, keys, step.toDevice(), step.fromDevice(), step.total(), needUp, needDown, roundTripUp, roundTripDown);
        assertEquals(needUp, step.toDevice(), "bytes sent to the device");
        assertEquals(needDown, step.fromDevice(), "bytes read back from the device");
    }
}
