package io.github.tokenbutler.plugin.predictor;

/**
 * The plain reference of the predictor: the whole sequence at once, in float64, with the formulas written out
 * and no cache, no blocking, no vectors. {@link ImportanceState} (incremental, float32, vectorized) is tested
 * against it.
 */
public final class ReferencePredictor {
    private ReferencePredictor() {}

    /** Importance queries and keys after RoPE, [n][layers][heads][d'] each. */
    public record Output(PredictorConfig config, int n, double[] q, double[] k) {
        /** Predicted logit of key token j for query token i at (layer, head): q_i · k_j / sqrt(d'). */
        public double logit(int i, int j, int layer, int head) {
            int dp = config.dPrime(), dim = config.importanceDim(), g = (layer * config.modelHeads() + head) * dp;
            double s = 0;
            for (int d = 0; d < dp; d++) s += q[i * dim + g + d] * k[j * dim + g + d];
            return s / Math.sqrt(dp);
        }
    }

    /** Runs tokens 0..n-1 (x is [n][modelDim]) with positions 0..n-1. */
    public static Output forward(PredictorConfig c, PredictorWeights w, float[] x, int n) {
        int e = c.modelDim(), p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim(), f = c.ffnDim();
        double[] xr = linear(x, n, e, w.inputProj, null, p);
        double[] q = linear(xr, n, p, w.attnQ, null, p);
        double[] k = linear(xr, n, p, w.attnK, null, p);
        double[] v = linear(xr, n, p, w.attnV, null, p);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                rope(q, t * p + h * hd, hd, t, c);
                rope(k, t * p + h * hd, hd, t, c);
            }
        }
        double[] a = new double[n * p];
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                double[] s = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= t; j++) {
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += q[t * p + h * hd + d] * k[j * p + h * hd + d];
                    s[j] = dot / Math.sqrt(hd);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                for (int j = 0; j <= t; j++) {
                    for (int d = 0; d < hd; d++) a[t * p + h * hd + d] += s[j] / sum * v[j * p + h * hd + d];
                }
            }
        }
        layerNorm(a, n, p, w.attnNormWeight, w.attnNormBias, c.layerNormEps());
        double[] up = linear(a, n, p, w.ffnUp, w.ffnUpBias, f);
        for (int i = 0; i < up.length; i++) up[i] = 0.5 * up[i] * (1 + PredictorMath.erf(up[i] / Math.sqrt(2)));
        double[] hidden = linear(up, n, f, w.ffnDown, w.ffnDownBias, e);
        for (int i = 0; i < n * e; i++) hidden[i] += x[i];
        if (c.residualNorm()) layerNorm(hidden, n, e, w.residualNormWeight, w.residualNormBias, c.layerNormEps());
        if (c.importanceNorm()) layerNorm(hidden, n, e, w.importanceNormWeight, w.importanceNormBias, c.layerNormEps());
        double[] qi = importance(c, w.qImportanceUp, w.qImportanceDown, hidden, n);
        double[] ki = importance(c, w.kImportanceUp, w.kImportanceDown, hidden, n);
        int dp = c.dPrime(), dim = c.importanceDim();
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < c.modelLayers() * c.modelHeads(); g++) {
                rope(qi, t * dim + g * dp, dp, t, c);
                rope(ki, t * dim + g * dp, dp, t, c);
            }
        }
        return new Output(c, n, qi, ki);
    }

    private static double[] importance(PredictorConfig c, float[] up, float[] down, double[] hidden, int n) {
        double[] mid = linear(hidden, n, c.modelDim(), up, null, c.importanceHidden());
        for (int i = 0; i < mid.length; i++) mid[i] = mid[i] / (1 + Math.exp(-mid[i]));
        return linear(mid, n, c.importanceHidden(), down, null, c.importanceDim());
    }

    private static double[] linear(float[] x, int n, int in, float[] weight, float[] bias, int out) {
        double[] xd = new double[n * in];
        for (int i = 0; i < xd.length; i++) xd[i] = x[i];
        return linear(xd, n, in, weight, bias, out);
    }

    private static double[] linear(double[] x, int n, int in, float[] weight, float[] bias, int out) {
        double[] y = new double[n * out];
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < out; r++) {
                double s = bias == null ? 0 : bias[r];
                for (int i = 0; i < in; i++) s += x[t * in + i] * weight[r * in + i];
                y[t * out + r] = s;
            }
        }
        return y;
    }

    /** nn.LayerNorm of each of n rows of length len, biased variance. */
    private static void layerNorm(double[] a, int n, int len, float[] weight, float[] bias, float eps) {
        for (int t = 0; t < n; t++) {
            double mean = 0, var = 0;
            for (int i = 0; i < len; i++) mean += a[t * len + i];
            mean /= len;
            for (int i = 0; i < len; i++) var += (a[t * len + i] - mean) * (a[t * len + i] - mean);
            var /= len;
            for (int i = 0; i < len; i++) a[t * len + i] = (a[t * len + i] - mean) / Math.sqrt(var + eps) * weight[i] + bias[i];
        }
    }

    /**
     * Rotate-half RoPE: value i pairs with value i + dim/2, angle pos * f_i with f_i = theta^(-2i/dim), or with Llama-3
     * scaling (written out again here from the formula, not through {@link RopeScaling}): f_i / factor for wavelengths
     * 2π/f_i above context/low, f_i below context/high, blended between.
     */
    private static void rope(double[] v, int off, int dim, int pos, PredictorConfig c) {
        int half = dim / 2;
        RopeScaling r = c.ropeScaling();
        for (int i = 0; i < half; i++) {
            double f = Math.pow(c.ropeTheta(), -2.0 * i / dim);
            if (r != null) {
                double wavelength = 2 * Math.PI / f, ctx = r.originalContextLength();
                if (wavelength > ctx / r.lowFreqFactor()) f = f / r.factor();
                else if (wavelength >= ctx / r.highFreqFactor()) {
                    double s = (ctx / wavelength - r.lowFreqFactor()) / (r.highFreqFactor() - r.lowFreqFactor());
                    f = (1 - s) * f / r.factor() + s * f;
                }
            }
            double angle = pos * f, cos = Math.cos(angle), sin = Math.sin(angle);
            double a = v[off + i], b = v[off + i + half];
            v[off + i] = a * cos - b * sin;
            v[off + i + half] = b * cos + a * sin;
        }
    }
}
