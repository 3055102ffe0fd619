package io.github.tokenbutler.plugin.predictor;

/**
 * Hyper-parameters of a TokenButler predictor and the shape of the base model it was trained for.
 * projDim = E/r, ffnDim = 2E/r, importanceHidden = I, dPrime = d' (16 in the paper).
 * fingerprint identifies the base model's weights (see TokenButlerPredictor for how it is computed).
 */
public record PredictorConfig(
        int modelDim, int modelLayers, int modelHeads, int modelKvHeads, int modelHeadSize, int modelVocab,
        int projDim, int attnHeads, int ffnDim, int importanceHidden, int dPrime,
        float ropeTheta, float layerNormEps, String fingerprint) {
}
