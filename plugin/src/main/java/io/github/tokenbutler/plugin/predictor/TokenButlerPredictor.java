package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.Map;

/**
 * A TokenButler predictor loaded from its GGUF file and checked against the model it is used with. Immutable
 * and shared: every sequence gets its own {@link ImportanceState}.
 */
public final class TokenButlerPredictor implements Predictor {
    /**
     * The key precision of {@link #newState(int)}: 8-bit keys with per-vector scales take 20 bytes per vector
     * instead of 64 and keep the top-50% selections of F32 on 99.5% or more of the tokens (see plugin/README.md
     * for the measurement).
     */
    public static final KeyPrecision DEFAULT_KEY_PRECISION = KeyPrecision.Q8;

    private final PredictorConfig config;
    private final PredictorWeights weights;
    private final ModelFingerprint trainedFor;

    private TokenButlerPredictor(PredictorConfig config, PredictorWeights weights, ModelFingerprint trainedFor) {
        this.config = config;
        this.weights = weights;
        this.trainedFor = trainedFor;
    }

    /** Loads a predictor; a corrupt file or one trained for another model is a Llama3.UserError naming both. */
    public static TokenButlerPredictor load(Path path, Llama3.ModelInfo model) {
        Llama3.requireReadableFile(path, "predictor file");
        try (GGUF gguf = GGUF.read(path)) {
            return read(gguf, path, model);
        }
    }

    /** {@link #load} from the opened file. */
    static TokenButlerPredictor read(GGUF gguf, Path path, Llama3.ModelInfo model) {
        PredictorFormat.Header header = PredictorFormat.readHeader(gguf);
        String what = "predictor " + path;
        header.fingerprint().requireSameModel(ModelFingerprint.of(model.config(), model.gguf()), what, PredictorFormat.imported(gguf));
        PredictorWeights weights = PredictorWeights.read(gguf, header.config());
        requireFinite(what, weights.byName());
        return new TokenButlerPredictor(header.config(), weights, header.fingerprint());
    }

    /** A predictor from weights in memory (tests, and tools that make predictors). */
    public static TokenButlerPredictor of(PredictorConfig config, PredictorWeights weights, ModelFingerprint trainedFor) {
        config.validate("predictor for " + trainedFor.modelName());
        return new TokenButlerPredictor(config, weights, trainedFor);
    }

    /** Every weight finite, or a UserError naming the tensor, the value and its index. */
    static void requireFinite(String what, Map<String, float[]> tensors) {
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            float[] a = e.getValue();
            for (int i = 0; i < a.length; i++) {
                if (!Float.isFinite(a[i])) {
                    throw new UserError(what + ": tensor '" + e.getKey() + "' holds " + a[i] + " at index " + i + "; a predictor's weights must be finite");
                }
            }
        }
    }

    public PredictorConfig config() { return config; }

    public PredictorWeights weights() { return weights; }

    /** The base model this predictor was trained for. */
    @Override public ModelFingerprint trainedFor() { return trainedFor; }

    /** Per-sequence state able to hold contextLength tokens, with {@link #DEFAULT_KEY_PRECISION} keys. */
    public ImportanceState newState(int contextLength) { return newState(contextLength, DEFAULT_KEY_PRECISION); }

    /** Per-sequence state able to hold contextLength tokens, with importance keys stored in the given precision. */
    public ImportanceState newState(int contextLength, KeyPrecision precision) {
        if (contextLength <= 0) throw new IllegalArgumentException("context length must be positive, got " + contextLength);
        return new ImportanceState(config, weights, contextLength, precision);
    }
}
