/**
 * Writing TokenButler predictor files and making random ones.
 *
 * <p><b>In:</b> a predictor's {@link io.github.tokenbutler.plugin.predictor.PredictorConfig}, its
 * {@link io.github.tokenbutler.plugin.predictor.PredictorWeights} and the
 * {@link io.github.tokenbutler.plugin.predictor.ModelFingerprint} of the base model it is for (or, for
 * {@link io.github.tokenbutler.butlerfile.RandomPredictor}, just the base model).
 *
 * <p><b>Out:</b> a predictor GGUF (general.architecture = "tokenbutler"), laid out as
 * {@link io.github.tokenbutler.plugin.predictor.PredictorFormat} defines and the plugin reads with
 * {@link io.github.tokenbutler.plugin.predictor.Predictor#load} (v1 or v2, as the file says).
 */
package io.github.tokenbutler.butlerfile;
