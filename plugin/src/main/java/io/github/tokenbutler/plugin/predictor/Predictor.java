package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;

import java.nio.file.Path;

/** A loaded predictor of either architecture: the v1 {@link TokenButlerPredictor} or the revised {@link RevisedPredictor}. */
public sealed interface Predictor permits TokenButlerPredictor, RevisedPredictor {
    /** The base model it was trained for. */
    ModelFingerprint trainedFor();

    /**
     * Opens a predictor file once and loads the architecture it holds ({@link PredictorFormat#architectureVersion}),
     * checked against the model; a corrupt file or one trained for another model is a Llama3.UserError naming both.
     */
    static Predictor load(Path path, Llama3.ModelInfo model) {
        Llama3.requireReadableFile(path, "predictor file");
        try (GGUF gguf = GGUF.read(path)) {
            return PredictorFormat.architectureVersion(gguf) == PredictorFormat.FORMAT_VERSION_REVISED
                    ? RevisedPredictor.read(gguf, path, model) : TokenButlerPredictor.read(gguf, path, model);
        }
    }
}
