package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

import java.nio.file.Path;

/**
 * A deterministic random-weight predictor for a model: the shape from {@link PredictorConfig#forModel} (paper
 * defaults scaled down for tiny models), the weights from {@link PredictorWeights#random} (the reference code's
 * initialization). Untrained: its selections are arbitrary but stable, which is what tests, benchmarks and the
 * plumbing need. The same model, options and seed give a byte-identical file.
 */
public final class RandomPredictor {
    private RandomPredictor() {}

    /** What was written. */
    public record Result(PredictorConfig config, ModelFingerprint fingerprint) {}

    /** What a v2 write wrote. */
    public record RevisedResult(RevisedPredictorConfig config, ModelFingerprint fingerprint) {}

    /**
     * @param dPrime, reduction, importanceHidden, attnHeads 0 for the scaled default (see {@link PredictorConfig#forModel})
     */
    public static Result write(ModelConfig model, GGUF modelFile, Path out, long seed, int dPrime, int reduction,
                               int importanceHidden, int attnHeads, GGMLType tensorType) {
        ModelFingerprint fingerprint = ModelFingerprint.of(model, modelFile);
        PredictorConfig config = PredictorConfig.forModel(model, fingerprint.vocabularyHash(), dPrime, reduction, importanceHidden, attnHeads);
        PredictorWeights weights = PredictorWeights.random(config, seed);
        PredictorFileWriter.write(out, config, weights, fingerprint, "synthetic random weights (seed " + seed + "), not trained", tensorType);
        return new Result(config, fingerprint);
    }

    /** A random v2 (revised) predictor; each of dPrime, importanceHidden, spacing 0 for the default ({@link RevisedPredictorConfig#forModel}). */
    public static RevisedResult writeRevised(ModelConfig model, GGUF modelFile, Path out, long seed, int dPrime,
                                                      int importanceHidden, int spacing, boolean rotary, GGMLType tensorType) {
        ModelFingerprint fingerprint = ModelFingerprint.of(model, modelFile);
        RevisedPredictorConfig config = RevisedPredictorConfig.forModel(model, fingerprint.vocabularyHash(), dPrime, importanceHidden, spacing, rotary);
        RevisedPredictorWeights weights = RevisedPredictorWeights.random(config, seed);
        PredictorFileWriter.build(config, weights, fingerprint, "synthetic random weights (seed " + seed + "), not trained", tensorType).write(out);
        return new RevisedResult(config, fingerprint);
    }
}
