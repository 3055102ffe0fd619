package io.github.tokenbutler.plugin.predictor;

/**
 * One sequence's predictor state, as a device backend takes it: the v1 {@link ImportanceState} (whose step a device
 * can run itself) or the v2 {@link RevisedImportanceState} (which the CPU keeps, and whose importance keys and
 * queries a device copies before it scores).
 */
public sealed interface PredictorState permits ImportanceState, RevisedImportanceState {}
