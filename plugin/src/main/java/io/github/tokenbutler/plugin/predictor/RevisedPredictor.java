package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;

import java.nio.file.Path;

/**
 * A revised (v2) TokenButler predictor loaded from its GGUF file and checked against the model it is used with,
 * as {@link TokenButlerPredictor} is for v1. Immutable and shared: every sequence gets its own
 * {@link RevisedImportanceState}.
 */
public final class RevisedPredictor implements Predictor {
    private final RevisedPredictorConfig config;
    private final RevisedPredictorWeights weights;
    private final ModelFingerprint trainedFor;

    private RevisedPredictor(RevisedPredictorConfig config, RevisedPredictorWeights weights, ModelFingerprint trainedFor) {
        this.config = config;
        this.weights = weights;
        this.trainedFor = trainedFor;
    }

    /** Loads a v2 predictor; a corrupt file or one trained for another model is a Llama3.UserError naming both. */
    public static RevisedPredictor load(Path path, Llama3.ModelInfo model) {
        Llama3.requireReadableFile(path, "predictor file");
        try (GGUF gguf = GGUF.read(path)) {
            return read(gguf, path, model);
        }
    }

    /** {@link #load} from the opened file. */
    static RevisedPredictor read(GGUF gguf, Path path, Llama3.ModelInfo model) {
        PredictorFormat.RevisedHeader header = PredictorFormat.readRevisedHeader(gguf);
        header.fingerprint().requireSameModel(ModelFingerprint.of(model.config(), model.gguf()), "predictor " + path, PredictorFormat.imported(gguf));
        return new RevisedPredictor(header.config(), RevisedPredictorWeights.read(gguf, header.config()), header.fingerprint());
    }

    /** A predictor from weights in memory (tests, and tools that make predictors). */
    public static RevisedPredictor of(RevisedPredictorConfig config, RevisedPredictorWeights weights, ModelFingerprint trainedFor) {
        config.validate("v2 predictor for " + trainedFor.modelName());
        return new RevisedPredictor(config, weights, trainedFor);
    }

    public RevisedPredictorConfig config() { return config; }

    public RevisedPredictorWeights weights() { return weights; }

    @Override public ModelFingerprint trainedFor() { return trainedFor; }

    /** Per-sequence state for contextLength tokens, keys in {@link TokenButlerPredictor#DEFAULT_KEY_PRECISION} unless given. */
    public RevisedImportanceState newState(int contextLength, KeyPrecision precision) {
        if (contextLength <= 0) throw new IllegalArgumentException("context length must be positive, got " + contextLength);
        return new RevisedImportanceState(config, weights, contextLength,
                precision == null ? TokenButlerPredictor.DEFAULT_KEY_PRECISION : precision);
    }
}
