/**
 * Training TokenButler predictors in plain Java (the {@code train} command).
 *
 * <p>In: a base model (GGUF, loaded by the runtime) and a text file. The text is cut into BOS-started
 * sequences ({@link io.github.tokenbutler.train.TrainingData}); the model runs each one densely with
 * teacher forcing and yields its layer-0 attention inputs and the queries/keys of layers 1..L-1
 * ({@link io.github.tokenbutler.train.TeacherForcing}, {@link io.github.tokenbutler.train.TeacherSample}),
 * computed on the fly and never stored for the whole corpus.
 *
 * <p>Out: predictor weights (flat float64, {@link io.github.tokenbutler.train.ParameterLayout}) trained to
 * reproduce the true attention of every sparse layer and head ({@link io.github.tokenbutler.train.TrainingLoss}:
 * KL divergence of each query row's attention distribution, or squared logit error over causal pairs),
 * gradients by hand ({@link io.github.tokenbutler.train.PredictorBackprop}, checked against finite
 * differences and against the plugin's ReferencePredictor), {@link io.github.tokenbutler.train.AdamW} with
 * {@link io.github.tokenbutler.train.LrSchedule} and global-norm clipping, in
 * {@link io.github.tokenbutler.train.Trainer}; resumable through
 * {@link io.github.tokenbutler.train.TrainingCheckpoint}. The command (tools.TrainCommand) writes the
 * predictor file with the butlerfile writer.
 */
package io.github.tokenbutler.train;
