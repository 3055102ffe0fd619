/**
 * The TokenButler predictors, inference side: v1 (arXiv 2503.07518 v1) and the revised v2.
 *
 * <p><b>In:</b> a predictor GGUF file ({@link io.github.tokenbutler.plugin.predictor.PredictorFormat}) checked
 * against the base model it is used with ({@link io.github.tokenbutler.plugin.predictor.ModelFingerprint}), and,
 * per sequence, the layer-0 attention input (post-RMSNorm hidden state) of every token as the runtime computes it
 * (v1), or the attention inputs of the producer layers and each layer's new keys (v2).
 *
 * <p><b>Out:</b> for every base-model layer and query head, predicted attention logits of the latest tokens
 * over all past tokens ({@link io.github.tokenbutler.plugin.predictor.ImportanceState#scores},
 * {@link io.github.tokenbutler.plugin.predictor.RevisedImportanceState#scores}), which the
 * selection stage turns into the set of tokens each head attends to.
 *
 * <p>Pieces: {@link io.github.tokenbutler.plugin.predictor.PredictorConfig} (hyper-parameters and base-model
 * shape), {@link io.github.tokenbutler.plugin.predictor.PredictorWeights} (every tensor as floats),
 * {@link io.github.tokenbutler.plugin.predictor.TokenButlerPredictor} (load and check),
 * {@link io.github.tokenbutler.plugin.predictor.ImportanceState} (one sequence's predictor state: the two parts
 * below), {@link io.github.tokenbutler.plugin.predictor.PredictorStep} (the forward pass over new tokens, with its
 * own attention K/V cache), {@link io.github.tokenbutler.plugin.predictor.ImportanceCache} (the importance keys of
 * every position and the latest queries, turned into predicted logits),
 * {@link io.github.tokenbutler.plugin.predictor.BlockedVectorStore} (the key store in F32, F16 or 8-bit form, laid
 * out for the scoring kernel). v2: {@link io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig},
 * {@link io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights},
 * {@link io.github.tokenbutler.plugin.predictor.RevisedPredictor} and
 * {@link io.github.tokenbutler.plugin.predictor.RevisedImportanceState} (producers, projected keys, scoring). Either
 * state goes to a device backend as a {@link io.github.tokenbutler.plugin.predictor.PredictorState}. The plain
 * float64 full-sequence forward every fast path is tested against, {@code ReferencePredictor}, is in the test sources.
 */
package io.github.tokenbutler.plugin.predictor;
