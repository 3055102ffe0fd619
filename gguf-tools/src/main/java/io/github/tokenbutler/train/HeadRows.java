package io.github.tokenbutler.train;

/**
 * The loss rows of one (sparse layer, query head) of a sequence, with their gradient with respect to the
 * predicted importance queries and keys: what both predictor architectures' backward passes share (they differ
 * only in where those queries and keys come from). Query row i has the causal keys 0..i.
 */
final class HeadRows {
    private final TrainingLoss loss;
    private final double[] pred, truth, dd, scratch;
    /** Hit-rate sums over the rows measured so far. */
    double hitSum;
    long hitRows;

    HeadRows(TrainingLoss loss, int n) {
        this.loss = loss;
        pred = new double[n];
        truth = new double[n];
        dd = new double[n];
        scratch = new double[n];
    }

    /**
     * The summed row losses (before the normalizer; each row's gradient is scaled by invNorm).
     * @param qg   [n][dp] predicted queries times predScale
     * @param kgT  [dp][n] predicted keys, transposed
     * @param tq   [n][hs] the model's queries times 1/sqrt(head size)
     * @param tkT  [hs][n] the model's keys, transposed
     * @param dqg  receives (adds) the gradient with respect to the unscaled queries, [n][dp]; null for none
     * @param dkgT receives (adds) the gradient with respect to the keys, [dp][n] (used only with dqg)
     */
    double run(double[] qg, double[] kgT, double[] tq, double[] tkT, int n, int dp, int hs, double invNorm, double predScale,
               double[] dqg, double[] dkgT, boolean measureHitRate) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int m = i + 1;
            java.util.Arrays.fill(pred, 0, m, 0);
            java.util.Arrays.fill(truth, 0, m, 0);
            for (int d = 0; d < dp; d++) PredictorBackprop.axpy(qg[i * dp + d], kgT, d * n, pred, 0, m);
            for (int e = 0; e < hs; e++) PredictorBackprop.axpy(tq[i * hs + e], tkT, e * n, truth, 0, m);
            sum += loss.row(pred, truth, m, dd);
            for (int j = 0; j < m; j++) dd[j] *= invNorm;
            if (dqg != null) {
                for (int d = 0; d < dp; d++) {
                    dqg[i * dp + d] += PredictorBackprop.dot(dd, 0, kgT, d * n, m) * predScale;
                    PredictorBackprop.axpy(qg[i * dp + d], dd, 0, dkgT, d * n, m);
                }
            }
            if (measureHitRate) {
                hitSum += TopHalf.hitRate(truth, pred, m, scratch);
                hitRows++;
            }
        }
        return sum;
    }
}
