package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.ReferencePredictor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The backward pass against its plain reference: central finite differences of the loss, in float64, for
 * every parameter of every tensor of a tiny predictor, for every loss; the loss values against their
 * definitions written out plainly (TrainingLoss); and the training forward pass against the plugin's
 * ReferencePredictor, which defines the architecture.
 */
class GradientCheckTest {
    @ParameterizedTest
    @EnumSource(TrainingLoss.class)
    void everyGradientMatchesCentralFiniteDifferences(TrainingLoss loss) {
        PredictorConfig c = TinyPredictors.config();
        ParameterLayout layout = new ParameterLayout(c);
        PredictorBackprop backprop = new PredictorBackprop(layout, 16, loss);
        double[] w = layout.flatten(PredictorWeights.random(c, 7));
        TeacherSample s = TinyPredictors.sample(c, 7, 3);
        int checkedNonZero = checkAgainstFiniteDifferences(backprop, layout, w, s);
        assertTrue(checkedNonZero > layout.size() / 2, "most gradients should be non-zero, got " + checkedNonZero + " of " + layout.size());
    }

    /**
     * Asserts every parameter's gradient against central finite differences of the loss; returns how many were
     * non-zero. Tolerance: central differences with h = 1e-6 on a loss of size ~1 are good to ~1e-9 absolute.
     */
    static int checkAgainstFiniteDifferences(SequenceGradient backprop, ParameterLayout layout, double[] w, TeacherSample s) {
        double[] grad = new double[layout.size()];
        backprop.lossAndGradient(w, s, grad, false);
        double h = 1e-6;
        int checkedNonZero = 0;
        for (ParameterLayout.Slice slice : layout.slices()) {
            for (int i = slice.offset(); i < slice.offset() + slice.size(); i++) {
                double keep = w[i];
                w[i] = keep + h;
                double plus = backprop.lossAndGradient(w, s, null, false).loss();
                w[i] = keep - h;
                double minus = backprop.lossAndGradient(w, s, null, false).loss();
                w[i] = keep;
                double numeric = (plus - minus) / (2 * h);
                assertTrue(Math.abs(numeric - grad[i]) <= 1e-7 + 1e-5 * Math.abs(numeric),
                        slice.name() + "[" + (i - slice.offset()) + "]: analytic " + grad[i] + ", numeric " + numeric);
                if (Math.abs(grad[i]) > 1e-6) checkedNonZero++;
            }
        }
        return checkedNonZero;
    }

    @Test
    void trainingForwardMatchesReferencePredictor() {
        PredictorConfig c = TinyPredictors.config();
        ParameterLayout layout = new ParameterLayout(c);
        PredictorWeights weights = PredictorWeights.random(c, 11);
        TeacherSample s = TinyPredictors.sample(c, 9, 5);
        ReferencePredictor.Output ref = ReferencePredictor.forward(c, weights, s.x(), s.n());
        PredictorBackprop.Importance ours = new PredictorBackprop(layout, 16, TrainingLoss.DEFAULT).importance(layout.flatten(weights), s.x(), s.n());
        int dp = c.dPrime(), dim = c.importanceDim();
        for (int layer = 1; layer < c.modelLayers(); layer++) {
            for (int head = 0; head < c.modelHeads(); head++) {
                int g = (layer * c.modelHeads() + head) * dp;
                for (int i = 0; i < s.n(); i++) {
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int d = 0; d < dp; d++) dot += ours.q()[i * dim + g + d] * ours.k()[j * dim + g + d];
                        assertEquals(ref.logit(i, j, layer, head), dot / Math.sqrt(dp), 1e-9, "logit " + i + "," + j + " layer " + layer + " head " + head);
                    }
                }
            }
        }
    }

    /** The definitions in TrainingLoss's javadoc, on ReferencePredictor's logits, summed the plain way. */
    @ParameterizedTest
    @EnumSource(TrainingLoss.class)
    void lossValueMatchesItsDefinition(TrainingLoss loss) {
        PredictorConfig c = TinyPredictors.config();
        ParameterLayout layout = new ParameterLayout(c);
        PredictorWeights weights = PredictorWeights.random(c, 5);
        TeacherSample s = TinyPredictors.sample(c, 11, 2);
        ReferencePredictor.Output ref = ReferencePredictor.forward(c, weights, s.x(), s.n());
        int hs = c.modelHeadSize(), heads = c.modelHeads(), group = heads / c.modelKvHeads();
        double total = 0;
        long pairs = 0, rows = 0;
        for (int layer = 1; layer < c.modelLayers(); layer++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < s.n(); i++) {
                    double[] truth = new double[i + 1], pred = new double[i + 1];
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < hs; e++) {
                            truth[j] += (double) s.queries()[layer][(i * heads + h) * hs + e] * s.keys()[layer][(j * c.modelKvHeads() + h / group) * hs + e];
                        }
                        truth[j] /= Math.sqrt(hs);
                        pred[j] = ref.logit(i, j, layer, h);
                    }
                    if (loss == TrainingLoss.MSE) {
                        for (int j = 0; j <= i; j++) total += (pred[j] - truth[j]) * (pred[j] - truth[j]);
                    } else {
                        double[] p = softmax(truth), q = softmax(pred);
                        for (int j = 0; j <= i; j++) total += p[j] * Math.log(p[j] / q[j]);
                    }
                    pairs += i + 1;
                    rows++;
                }
            }
        }
        double expected = total / (loss == TrainingLoss.MSE ? pairs : rows);
        double actual = new PredictorBackprop(layout, 16, loss).lossAndGradient(layout.flatten(weights), s, null, false).loss();
        assertEquals(expected, actual, 1e-9 * expected);
    }

    private static double[] softmax(double[] z) {
        double sum = 0;
        double[] out = new double[z.length];
        for (int j = 0; j < z.length; j++) sum += out[j] = Math.exp(z[j]);
        for (int j = 0; j < z.length; j++) out[j] /= sum;
        return out;
    }

    @Test
    void hitRateOfPerfectAndReversedPredictions() {
        double[] truth = {5, 1, 4, 2, 3}, scratch = new double[5];
        assertEquals(1.0, TopHalf.hitRate(truth, truth.clone(), 5, scratch));
        double[] reversed = {-5, -1, -4, -2, -3};
        // top 3 of truth: {0,2,4}; top 3 of reversed: {1,3,4}; overlap {4}
        assertEquals(1.0 / 3, TopHalf.hitRate(truth, reversed, 5, scratch), 1e-12);
        assertEquals(5.0, TopHalf.kthLargest(truth, 5, 1, scratch));
        assertEquals(3.0, TopHalf.kthLargest(truth, 5, 3, scratch));
    }
}
