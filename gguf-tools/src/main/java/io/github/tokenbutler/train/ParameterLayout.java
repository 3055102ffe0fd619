package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every predictor tensor as one slice of a single flat double array, in file order. Training keeps the
 * parameters, their gradients and both Adam moments as such flat arrays, so that the optimizer, gradient
 * clipping and checkpoints are one loop over one array instead of fourteen.
 */
public final class ParameterLayout {
    /** One tensor's place in the flat array; matrices are row-major [rows][cols] (one row per output). */
    public record Slice(String name, int offset, int rows, int cols) {
        public int size() { return rows * cols; }
        /** Only linear weights decay in AdamW; biases and LayerNorm parameters do not (the usual practice). */
        public boolean decays() { return cols > 1; }
    }

    private final PredictorConfig config;
    private final Map<String, Slice> slices = new LinkedHashMap<>();
    private final int size;
    public final int inputProj, attnQ, attnK, attnV, normWeight, normBias, ffnUp, ffnUpBias, ffnDown, ffnDownBias,
            qUp, qDown, kUp, kDown;

    public ParameterLayout(PredictorConfig c) {
        this.config = c;
        size = place(PredictorFormat.tensorShapes(c));
        inputProj = offset(PredictorFormat.INPUT_PROJ);
        attnQ = offset(PredictorFormat.ATTN_Q);
        attnK = offset(PredictorFormat.ATTN_K);
        attnV = offset(PredictorFormat.ATTN_V);
        normWeight = offset(PredictorFormat.ATTN_NORM_WEIGHT);
        normBias = offset(PredictorFormat.ATTN_NORM_BIAS);
        ffnUp = offset(PredictorFormat.FFN_UP);
        ffnUpBias = offset(PredictorFormat.FFN_UP_BIAS);
        ffnDown = offset(PredictorFormat.FFN_DOWN);
        ffnDownBias = offset(PredictorFormat.FFN_DOWN_BIAS);
        qUp = offset(PredictorFormat.Q_IMPORTANCE_UP);
        qDown = offset(PredictorFormat.Q_IMPORTANCE_DOWN);
        kUp = offset(PredictorFormat.K_IMPORTANCE_UP);
        kDown = offset(PredictorFormat.K_IMPORTANCE_DOWN);
        if (size != config.parameterCount()) {
            throw new IllegalStateException("layout holds " + size + " parameters, the config counts " + config.parameterCount());
        }
    }

    /** The layout of a v2 (revised) predictor: the same flat array over its tensors; the v1 offsets are -1. */
    public ParameterLayout(RevisedPredictorConfig c) {
        this.config = null;
        size = place(PredictorFormat.tensorShapes(c));
        inputProj = attnQ = attnK = attnV = normWeight = normBias = ffnUp = ffnUpBias = ffnDown = ffnDownBias = qUp = qDown = kUp = kDown = -1;
        if (size != c.parameterCount()) {
            throw new IllegalStateException("layout holds " + size + " parameters, the config counts " + c.parameterCount());
        }
    }

    /** Places every tensor in file order; returns the total size. */
    private int place(Map<String, long[]> shapes) {
        int at = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] shape = e.getValue(); // GGUF order: shape[0] is the row length
            int cols = (int) shape[0], rows = shape.length > 1 ? (int) shape[1] : 1;
            if (shape.length == 1) { rows = (int) shape[0]; cols = 1; }
            slices.put(e.getKey(), new Slice(e.getKey(), at, rows, cols));
            at = Math.addExact(at, rows * cols);
        }
        return at;
    }

    /** Where tensor `name` starts in the flat array. */
    public int offset(String name) {
        Slice s = slices.get(name);
        if (s == null) throw new IllegalArgumentException("no tensor '" + name + "' in this layout");
        return s.offset();
    }

    /** The v1 predictor's config; null for a v2 layout. */
    public PredictorConfig config() { return config; }

    /** Total number of parameters (= {@link PredictorConfig#parameterCount()}). */
    public int size() { return size; }

    public List<Slice> slices() { return List.copyOf(slices.values()); }

    /** The flat array of a predictor's weights. */
    public double[] flatten(PredictorWeights w) { return flatten(w.byName()); }

    /** The flat array of tensors by name (every tensor of the layout). */
    public double[] flatten(Map<String, float[]> byName) {
        double[] out = new double[size];
        for (Slice s : slices.values()) {
            float[] a = byName.get(s.name());
            for (int i = 0; i < a.length; i++) out[s.offset() + i] = a[i];
        }
        return out;
    }

    /** Predictor weights (float) from a flat array, as written to the predictor file. */
    public PredictorWeights toWeights(double[] flat) { return new PredictorWeights(config, toArrays(flat)); }

    /** Every tensor (float) from a flat array, by name in file order. */
    public Map<String, float[]> toArrays(double[] flat) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Slice s : slices.values()) {
            float[] a = new float[s.size()];
            for (int i = 0; i < a.length; i++) a[i] = (float) flat[s.offset() + i];
            m.put(s.name(), a);
        }
        return m;
    }
}
