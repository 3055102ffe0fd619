package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;

import java.nio.file.Path;

/** A TokenButler predictor loaded from its GGUF file and checked against the model it is used with. */
public final class TokenButlerPredictor {
    /** Loads a predictor; a corrupt file or one trained for another model is a Llama3.UserError naming both. */
    public static TokenButlerPredictor load(Path path, Llama3.ModelInfo model) {
        throw new UnsupportedOperationException("TODO(predictor)");
    }

    public PredictorConfig config() { throw new UnsupportedOperationException("TODO(predictor)"); }

    /** Per-sequence state able to hold contextLength tokens. */
    public ImportanceState newState(int contextLength) { throw new UnsupportedOperationException("TODO(predictor)"); }
}
