package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every tensor of a v2 predictor as a float array, one row per output (a PyTorch Linear weight). Per producer p:
 * {@code normWeight[p]}, {@code normBias[p]} [E]; {@code up[p]} [I][E] + {@code upBias[p]} [I]; {@code down[p]}
 * [G*H*d'][I] + {@code downBias[p]}. Per layer l: {@code keyProjection[l]} [H_kv*d'][head size]. Names and shapes
 * are {@link PredictorFormat#tensorShapes(RevisedPredictorConfig)}'s.
 */
public final class RevisedPredictorWeights {
    public final float[][] normWeight, normBias, up, upBias, down, downBias, keyProjection;
    private final Map<String, float[]> byName;

    /** Wraps the arrays (not copied); their sizes are checked against the config. */
    public RevisedPredictorWeights(RevisedPredictorConfig c, Map<String, float[]> byName) {
        Map<String, long[]> shapes = PredictorFormat.tensorShapes(c);
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            float[] a = byName.get(e.getKey());
            long n = Arrays.stream(e.getValue()).reduce(1, (x, y) -> x * y);
            if (a == null) throw new IllegalArgumentException("tensor '" + e.getKey() + "' is missing");
            if (a.length != n) throw new IllegalArgumentException("tensor '" + e.getKey() + "' has " + a.length + " floats, expected " + n);
        }
        int producers = c.producers(), layers = c.modelLayers();
        normWeight = new float[producers][];
        normBias = new float[producers][];
        up = new float[producers][];
        upBias = new float[producers][];
        down = new float[producers][];
        downBias = new float[producers][];
        for (int p = 0; p < producers; p++) {
            normWeight[p] = byName.get(PredictorFormat.producerNormWeight(p));
            normBias[p] = byName.get(PredictorFormat.producerNormBias(p));
            up[p] = byName.get(PredictorFormat.producerUp(p));
            upBias[p] = byName.get(PredictorFormat.producerUpBias(p));
            down[p] = byName.get(PredictorFormat.producerDown(p));
            downBias[p] = byName.get(PredictorFormat.producerDownBias(p));
        }
        keyProjection = new float[layers][];
        for (int l = 0; l < layers; l++) keyProjection[l] = byName.get(PredictorFormat.keyProjection(l));
        Map<String, float[]> ordered = new LinkedHashMap<>();
        for (String name : shapes.keySet()) ordered.put(name, byName.get(name));
        this.byName = ordered;
    }

    /** Tensor name to data, in file order (the arrays themselves). */
    public Map<String, float[]> byName() { return byName; }

    /**
     * Deterministic random weights initialized as {@link PredictorWeights#random} does (Xavier-uniform linear weights,
     * LayerNorm weights 1 + U(-0.1, 0.1), biases U(-0.1, 0.1)), each tensor from its own generator.
     */
    public static RevisedPredictorWeights random(RevisedPredictorConfig c, long seed) {
        return new RevisedPredictorWeights(c, PredictorWeights.randomTensors(PredictorFormat.tensorShapes(c), seed));
    }

    /** Reads every tensor of a v2 predictor file (F32 or F16); a missing tensor, a wrong shape or type is a UserError. */
    public static RevisedPredictorWeights read(GGUF gguf, RevisedPredictorConfig c) {
        String where = "predictor " + gguf.path();
        Map<String, long[]> shapes = PredictorFormat.tensorShapes(c);
        for (String name : gguf.tensors().keySet()) {
            if (!shapes.containsKey(name)) throw new UserError(where + ": tensor '" + name + "' does not belong to a v2 predictor of this shape");
        }
        Map<String, float[]> m = PredictorWeights.readTensors(gguf, shapes);
        TokenButlerPredictor.requireFinite(where, m);
        return new RevisedPredictorWeights(c, m);
    }
}
