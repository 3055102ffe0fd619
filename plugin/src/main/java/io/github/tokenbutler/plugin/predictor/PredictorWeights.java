package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.FloatTensor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every tensor of a predictor as a float array, row-major with one row per output (a PyTorch Linear weight):
 * {@code inputProj} [P][E]; {@code attnQ}, {@code attnK}, {@code attnV} [P][P]; {@code attnNormWeight},
 * {@code attnNormBias} [P]; {@code ffnUp} [2P][P] + {@code ffnUpBias} [2P]; {@code ffnDown} [E][2P] +
 * {@code ffnDownBias} [E]; {@code qImportanceUp}, {@code kImportanceUp} [I][E]; {@code qImportanceDown},
 * {@code kImportanceDown} [L*H*d'][I], output (layer*H + head)*d' + j. With the extensions of imported predictors
 * ({@link PredictorConfig#residualNorm}, {@link PredictorConfig#importanceNorm}) also {@code residualNormWeight},
 * {@code residualNormBias}, {@code importanceNormWeight}, {@code importanceNormBias} [E]; null when the config has
 * no such LayerNorm.
 */
public final class PredictorWeights {
    public final float[] inputProj, attnQ, attnK, attnV, attnNormWeight, attnNormBias, ffnUp, ffnUpBias, ffnDown, ffnDownBias,
            qImportanceUp, qImportanceDown, kImportanceUp, kImportanceDown,
            residualNormWeight, residualNormBias, importanceNormWeight, importanceNormBias;

    /** Wraps the arrays (not copied); their sizes are checked against the config. */
    public PredictorWeights(PredictorConfig c, Map<String, float[]> byName) {
        Map<String, long[]> shapes = PredictorFormat.tensorShapes(c);
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            float[] a = byName.get(e.getKey());
            long n = elements(e.getValue());
            if (a == null) throw new IllegalArgumentException("tensor '" + e.getKey() + "' is missing");
            if (a.length != n) throw new IllegalArgumentException("tensor '" + e.getKey() + "' has " + a.length + " floats, expected " + n);
        }
        inputProj = byName.get(PredictorFormat.INPUT_PROJ);
        attnQ = byName.get(PredictorFormat.ATTN_Q);
        attnK = byName.get(PredictorFormat.ATTN_K);
        attnV = byName.get(PredictorFormat.ATTN_V);
        attnNormWeight = byName.get(PredictorFormat.ATTN_NORM_WEIGHT);
        attnNormBias = byName.get(PredictorFormat.ATTN_NORM_BIAS);
        ffnUp = byName.get(PredictorFormat.FFN_UP);
        ffnUpBias = byName.get(PredictorFormat.FFN_UP_BIAS);
        ffnDown = byName.get(PredictorFormat.FFN_DOWN);
        ffnDownBias = byName.get(PredictorFormat.FFN_DOWN_BIAS);
        qImportanceUp = byName.get(PredictorFormat.Q_IMPORTANCE_UP);
        qImportanceDown = byName.get(PredictorFormat.Q_IMPORTANCE_DOWN);
        kImportanceUp = byName.get(PredictorFormat.K_IMPORTANCE_UP);
        kImportanceDown = byName.get(PredictorFormat.K_IMPORTANCE_DOWN);
        residualNormWeight = c.residualNorm() ? byName.get(PredictorFormat.RESIDUAL_NORM_WEIGHT) : null;
        residualNormBias = c.residualNorm() ? byName.get(PredictorFormat.RESIDUAL_NORM_BIAS) : null;
        importanceNormWeight = c.importanceNorm() ? byName.get(PredictorFormat.IMPORTANCE_NORM_WEIGHT) : null;
        importanceNormBias = c.importanceNorm() ? byName.get(PredictorFormat.IMPORTANCE_NORM_BIAS) : null;
    }

    /** Tensor name → data, in file order (the arrays themselves, not copies). */
    public Map<String, float[]> byName() {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put(PredictorFormat.INPUT_PROJ, inputProj);
        m.put(PredictorFormat.ATTN_Q, attnQ);
        m.put(PredictorFormat.ATTN_K, attnK);
        m.put(PredictorFormat.ATTN_V, attnV);
        m.put(PredictorFormat.ATTN_NORM_WEIGHT, attnNormWeight);
        m.put(PredictorFormat.ATTN_NORM_BIAS, attnNormBias);
        m.put(PredictorFormat.FFN_UP, ffnUp);
        m.put(PredictorFormat.FFN_UP_BIAS, ffnUpBias);
        m.put(PredictorFormat.FFN_DOWN, ffnDown);
        m.put(PredictorFormat.FFN_DOWN_BIAS, ffnDownBias);
        m.put(PredictorFormat.Q_IMPORTANCE_UP, qImportanceUp);
        m.put(PredictorFormat.Q_IMPORTANCE_DOWN, qImportanceDown);
        m.put(PredictorFormat.K_IMPORTANCE_UP, kImportanceUp);
        m.put(PredictorFormat.K_IMPORTANCE_DOWN, kImportanceDown);
        if (residualNormWeight != null) {
            m.put(PredictorFormat.RESIDUAL_NORM_WEIGHT, residualNormWeight);
            m.put(PredictorFormat.RESIDUAL_NORM_BIAS, residualNormBias);
        }
        if (importanceNormWeight != null) {
            m.put(PredictorFormat.IMPORTANCE_NORM_WEIGHT, importanceNormWeight);
            m.put(PredictorFormat.IMPORTANCE_NORM_BIAS, importanceNormBias);
        }
        return m;
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /**
     * Deterministic random weights, as the reference code initializes a predictor before training: Xavier-uniform
     * linear weights, U(-a, a) with a = sqrt(6 / (in + out)). LayerNorm weights are 1 + U(-0.1, 0.1) and biases
     * U(-0.1, 0.1) instead of exactly 1 and 0, so that a file round trip or a forward-pass test exercises every
     * tensor. Each tensor has its own generator (seed and tensor name), so the values do not depend on the order
     * tensors are made in.
     */
    public static PredictorWeights random(PredictorConfig c, long seed) {
        return new PredictorWeights(c, randomTensors(PredictorFormat.tensorShapes(c), seed));
    }

    /** {@link #random}'s values for every tensor of shapes; a name ending in "norm.weight" is a LayerNorm weight (1 + U(-0.1, 0.1)). */
    static Map<String, float[]> randomTensors(Map<String, long[]> shapes, long seed) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] shape = e.getValue();
            float[] a = new float[Math.toIntExact(elements(shape))];
            BlockedVectorStore.SplitMix64 rng = new BlockedVectorStore.SplitMix64(seed ^ (0x9E3779B97F4A7C15L * e.getKey().hashCode()));
            boolean isNormWeight = e.getKey().endsWith("norm.weight");
            double limit = shape.length == 2 ? Math.sqrt(6.0 / (shape[0] + shape[1])) : 0.1;
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) ((isNormWeight ? 1.0 : 0.0) + limit * (2 * rng.nextDouble() - 1));
            }
            m.put(e.getKey(), a);
        }
        return m;
    }

    /**
     * Reads every tensor of a predictor file (F32 or F16, dequantized by the runtime) into floats. A missing tensor, a wrong shape or
     * another tensor type is a UserError naming the file, the tensor, what was expected and what was found.
     */
    public static PredictorWeights read(GGUF gguf, PredictorConfig c) {
        return new PredictorWeights(c, readTensors(gguf, PredictorFormat.tensorShapes(c)));
    }

    /**
     * Every tensor of shapes from a predictor file (F32 or F16, dequantized by the runtime), by name; a missing tensor,
     * a wrong shape or another tensor type is a UserError naming the file, the tensor, what was expected and what was found.
     */
    static Map<String, float[]> readTensors(GGUF gguf, Map<String, long[]> shapes) {
        String where = "predictor " + gguf.path();
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String name = e.getKey();
            TensorInfo t = gguf.tensors().get(name);
            if (t == null) throw new UserError(where + ": tensor '" + name + "' is missing (expected shape " + Arrays.toString(e.getValue()) + ")");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new UserError(where + ": tensor '" + name + "' should have shape " + Arrays.toString(e.getValue())
                        + " for the hyper-parameters in the file, has " + Arrays.toString(t.shape()));
            }
            if (t.type() != GGMLType.F32 && t.type() != GGMLType.F16) {
                throw new UserError(where + ": tensor '" + name + "' should be F32 or F16, is " + t.type());
            }
            m.put(name, FloatTensor.of(t, gguf.tensorData(t)).dequantizeAll());
        }
        return m;
    }

    /** The same weights rounded to F16 and back: what a predictor written with F16 tensors reads. */
    public PredictorWeights roundedToF16(PredictorConfig c) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Map.Entry<String, float[]> e : byName().entrySet()) {
            float[] a = e.getValue().clone();
            for (int i = 0; i < a.length; i++) a[i] = Float.float16ToFloat(Float.floatToFloat16(a[i]));
            m.put(e.getKey(), a);
        }
        return new PredictorWeights(c, m);
    }
}
