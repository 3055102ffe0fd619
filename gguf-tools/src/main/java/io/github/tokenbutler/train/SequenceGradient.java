package io.github.tokenbutler.train;

/** The training loss of one sequence and its gradient, for one predictor architecture ({@link PredictorBackprop}: v1; {@link RevisedBackprop}: v2). */
public interface SequenceGradient {
    /**
     * Loss of one sequence and, when grad is not null, its gradient added to grad (the layout's flat order).
     * @param measureHitRate also count the share of the true top-50% keys that the predicted top-50% contains
     */
    PredictorBackprop.SequenceLoss lossAndGradient(double[] w, TeacherSample s, double[] grad, boolean measureHitRate);
}
