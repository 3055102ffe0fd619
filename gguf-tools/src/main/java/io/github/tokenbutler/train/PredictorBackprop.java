package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;

/**
 * The training loss of one sequence and its exact gradient with respect to every predictor parameter.
 *
 * <p>The forward pass is {@code ReferencePredictor.forward} (plugin) computed the same way in float64, with
 * every intermediate kept for the backward pass: input projection, causal RoPE attention, LayerNorm, GELU FFN
 * with the residual onto the input, the two SiLU importance MLPs, RoPE on every d'-vector. The loss compares
 * predicted logits q_i·k_j/sqrt(d') with the base model's true logits q_i·k_j/sqrt(headSize), over causal pairs
 * j &lt;= i of layers 1..L-1 and every query head (query head h reads KV head h / (heads / kvHeads)), as
 * {@link TrainingLoss} says: the squared logit error over all pairs, or the KL divergence of each query row's
 * attention distribution. Layer 0 always runs dense, so its importance rows get no loss and are not computed
 * here (their gradient is zero).
 *
 * <p>References: {@code GradientCheckTest} checks the predicted logits against ReferencePredictor, each loss's
 * value against its definition, and every tensor's gradient against central finite differences of each loss.
 * Inner loops are written as "y += a * row" where they can be, which the JIT vectorizes; the arithmetic order
 * is fixed, so the result does not depend on the thread that runs it.
 */
public final class PredictorBackprop implements SequenceGradient {
    private final PredictorConfig c;
    private final ParameterLayout layout;
    private final int maxLength;
    private final TrainingLoss loss;
    /** cos/sin of RoPE angles: [pos][dim/2] for the attention block's head size and for d'. */
    private final double[] attnCos, attnSin, impCos, impSin;

    /** The loss of one sequence, and the numbers behind its hit-rate (0 when not measured). */
    public record SequenceLoss(double loss, long pairs, double hitSum, long hitRows) {}

    public PredictorBackprop(ParameterLayout layout, int maxLength, TrainingLoss loss) {
        this.layout = layout;
        this.loss = loss;
        this.c = layout.config();
        // The extensions of imported predictors (extra LayerNorms, RoPE scaling) have no gradients here.
        if (c.extended()) throw new IllegalArgumentException("training supports the plain v1 architecture only, not an imported predictor's extensions");
        this.maxLength = maxLength;
        int ah = c.attnHeadDim() / 2, ih = c.dPrime() / 2;
        attnCos = new double[maxLength * ah];
        attnSin = new double[maxLength * ah];
        impCos = new double[maxLength * ih];
        impSin = new double[maxLength * ih];
        ropeTable(c.attnHeadDim(), attnCos, attnSin);
        ropeTable(c.dPrime(), impCos, impSin);
    }

    /** The same angles as ReferencePredictor: pos * theta^(-2i/dim), in double. */
    private void ropeTable(int dim, double[] cos, double[] sin) {
        int half = dim / 2;
        for (int pos = 0; pos < maxLength; pos++) {
            for (int i = 0; i < half; i++) {
                double angle = pos * Math.pow(c.ropeTheta(), -2.0 * i / dim);
                cos[pos * half + i] = Math.cos(angle);
                sin[pos * half + i] = Math.sin(angle);
            }
        }
    }

    public ParameterLayout layout() { return layout; }

    /** Predicted logits of the sparse layers: importance queries and keys after RoPE, [n][L*H*d'] (layer-0 rows zero). */
    public record Importance(double[] q, double[] k) {}

    /** Forward only: the importance vectors the loss compares (for tests and tools). */
    public Importance importance(double[] w, float[] x, int n) {
        Forward f = forward(w, x, n);
        return new Importance(f.qi, f.ki);
    }

    /**
     * Loss of one sequence and, when grad is not null, its gradient added to grad.
     * @param measureHitRate also count, per (sparse layer, head, query), the share of the true top-50% keys
     *                       that the predicted top-50% contains (the eval command's hit-rate)
     */
    @Override
    public SequenceLoss lossAndGradient(double[] w, TeacherSample s, double[] grad, boolean measureHitRate) {
        int n = s.n();
        if (n > maxLength) throw new IllegalArgumentException("sequence of " + n + " tokens, tables made for " + maxLength);
        Forward f = forward(w, s.x(), n);
        int dim = c.importanceDim(), dp = c.dPrime(), heads = c.modelHeads(), hs = c.modelHeadSize();
        int kvDim = c.modelKvHeads() * hs, qDim = heads * hs, group = c.modelKvGroup();
        long pairs = (long) (c.modelLayers() - 1) * heads * n * (n + 1) / 2;
        double invNorm = 1 / loss.normalizer((long) (c.modelLayers() - 1) * heads, n);
        double predScale = 1 / Math.sqrt(dp), trueScale = 1 / Math.sqrt(hs);
        double[] dqi = grad == null ? null : new double[n * dim], dki = grad == null ? null : new double[n * dim];
        double[] qg = new double[n * dp], kgT = new double[dp * n], dqg = new double[n * dp], dkgT = new double[dp * n];
        double[] tq = new double[n * hs], tkT = new double[hs * n];
        HeadRows rows = new HeadRows(loss, n);
        double sum = 0;
        for (int layer = 1; layer < c.modelLayers(); layer++) {
            float[] lq = s.queries()[layer], lk = s.keys()[layer];
            for (int h = 0; h < heads; h++) {
                int g = (layer * heads + h) * dp, kv = h / group;
                for (int t = 0; t < n; t++) {
                    for (int d = 0; d < dp; d++) {
                        qg[t * dp + d] = f.qi[t * dim + g + d] * predScale;
                        kgT[d * n + t] = f.ki[t * dim + g + d];
                    }
                    for (int e = 0; e < hs; e++) {
                        tq[t * hs + e] = lq[t * qDim + h * hs + e] * trueScale;
                        tkT[e * n + t] = lk[t * kvDim + kv * hs + e];
                    }
                }
                if (grad != null) {
                    java.util.Arrays.fill(dqg, 0);
                    java.util.Arrays.fill(dkgT, 0);
                }
                sum += rows.run(qg, kgT, tq, tkT, n, dp, hs, invNorm, predScale, grad == null ? null : dqg, dkgT, measureHitRate);
                if (grad != null) {
                    for (int t = 0; t < n; t++) {
                        for (int d = 0; d < dp; d++) {
                            dqi[t * dim + g + d] = dqg[t * dp + d];
                            dki[t * dim + g + d] = dkgT[d * n + t];
                        }
                    }
                }
            }
        }
        if (grad != null) backward(w, f, dqi, dki, grad);
        return new SequenceLoss(sum * invNorm, pairs, rows.hitSum, rows.hitRows);
    }

    /** Every intermediate of the forward pass, row-major per token. */
    private static final class Forward {
        int n;
        double[] x, xr, q, k, v, probs, att, xhat, rstd, ln, u, gelu, hidden, qMid, qAct, kMid, kAct, qi, ki;
    }

    private Forward forward(double[] w, float[] xIn, int n) {
        int e = c.modelDim(), p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim(), ff = c.ffnDim();
        int ih = c.importanceHidden(), dim = c.importanceDim(), first = c.modelHeads() * c.dPrime();
        ParameterLayout L = layout;
        Forward f = new Forward();
        f.n = n;
        f.x = new double[n * e];
        for (int i = 0; i < n * e; i++) f.x[i] = xIn[i];
        f.xr = linear(f.x, n, e, w, L.inputProj, p, -1, 0);
        f.q = linear(f.xr, n, p, w, L.attnQ, p, -1, 0);
        f.k = linear(f.xr, n, p, w, L.attnK, p, -1, 0);
        f.v = linear(f.xr, n, p, w, L.attnV, p, -1, 0);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                rope(f.q, t * p + h * hd, hd, t, attnCos, attnSin, false);
                rope(f.k, t * p + h * hd, hd, t, attnCos, attnSin, false);
            }
        }
        // softmax probabilities, triangular per head: row t of head h at h*tri + t*(t+1)/2
        int tri = n * (n + 1) / 2;
        f.probs = new double[heads * tri];
        f.att = new double[n * p];
        double scale = 1 / Math.sqrt(hd);
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                int row = h * tri + t * (t + 1) / 2;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= t; j++) {
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += f.q[t * p + h * hd + d] * f.k[j * p + h * hd + d];
                    f.probs[row + j] = dot * scale;
                    max = Math.max(max, dot * scale);
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) { double ex = Math.exp(f.probs[row + j] - max); f.probs[row + j] = ex; sum += ex; }
                for (int j = 0; j <= t; j++) {
                    double pj = f.probs[row + j] / sum;
                    f.probs[row + j] = pj;
                    for (int d = 0; d < hd; d++) f.att[t * p + h * hd + d] += pj * f.v[j * p + h * hd + d];
                }
            }
        }
        f.xhat = new double[n * p];
        f.rstd = new double[n];
        f.ln = new double[n * p];
        for (int t = 0; t < n; t++) {
            double mean = 0, var = 0;
            for (int i = 0; i < p; i++) mean += f.att[t * p + i];
            mean /= p;
            for (int i = 0; i < p; i++) var += (f.att[t * p + i] - mean) * (f.att[t * p + i] - mean);
            var /= p;
            double r = 1 / Math.sqrt(var + c.layerNormEps());
            f.rstd[t] = r;
            for (int i = 0; i < p; i++) {
                double xh = (f.att[t * p + i] - mean) * r;
                f.xhat[t * p + i] = xh;
                f.ln[t * p + i] = xh * w[L.normWeight + i] + w[L.normBias + i];
            }
        }
        f.u = linear(f.ln, n, p, w, L.ffnUp, ff, L.ffnUpBias, 0);
        f.gelu = new double[f.u.length];
        for (int i = 0; i < f.u.length; i++) f.gelu[i] = 0.5 * f.u[i] * (1 + Erf.erf(f.u[i] / Math.sqrt(2)));
        f.hidden = linear(f.gelu, n, ff, w, L.ffnDown, e, L.ffnDownBias, 0);
        for (int i = 0; i < n * e; i++) f.hidden[i] += f.x[i];
        f.qMid = linear(f.hidden, n, e, w, L.qUp, ih, -1, 0);
        f.kMid = linear(f.hidden, n, e, w, L.kUp, ih, -1, 0);
        f.qAct = silu(f.qMid);
        f.kAct = silu(f.kMid);
        // rows below 'first' (layer 0) are never scored: left zero
        f.qi = linear(f.qAct, n, ih, w, L.qDown, dim, -1, first);
        f.ki = linear(f.kAct, n, ih, w, L.kDown, dim, -1, first);
        int dp = c.dPrime();
        for (int t = 0; t < n; t++) {
            for (int g = first; g < dim; g += dp) {
                rope(f.qi, t * dim + g, dp, t, impCos, impSin, false);
                rope(f.ki, t * dim + g, dp, t, impCos, impSin, false);
            }
        }
        return f;
    }

    private void backward(double[] w, Forward f, double[] dqi, double[] dki, double[] grad) {
        int n = f.n, e = c.modelDim(), p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim(), ff = c.ffnDim();
        int ih = c.importanceHidden(), dim = c.importanceDim(), dp = c.dPrime(), first = c.modelHeads() * dp;
        ParameterLayout L = layout;
        for (int t = 0; t < n; t++) {
            for (int g = first; g < dim; g += dp) {
                rope(dqi, t * dim + g, dp, t, impCos, impSin, true);
                rope(dki, t * dim + g, dp, t, impCos, impSin, true);
            }
        }
        double[] dHidden = new double[n * e];
        importanceBackward(w, f.qMid, f.qAct, f.hidden, dqi, L.qUp, L.qDown, dHidden, grad, n, e, ih, dim, first);
        importanceBackward(w, f.kMid, f.kAct, f.hidden, dki, L.kUp, L.kDown, dHidden, grad, n, e, ih, dim, first);
        // FFN down (+ bias); the residual carries dHidden to x, which is an input (no gradient needed)
        double[] dGelu = new double[n * ff];
        linearBackward(f.gelu, dHidden, n, ff, e, w, L.ffnDown, L.ffnDownBias, grad, dGelu, 0);
        double[] du = dGelu;
        for (int i = 0; i < du.length; i++) {
            double u = f.u[i];
            du[i] *= 0.5 * (1 + Erf.erf(u / Math.sqrt(2))) + u * Math.exp(-0.5 * u * u) / Math.sqrt(2 * Math.PI);
        }
        double[] dLn = new double[n * p];
        linearBackward(f.ln, du, n, p, ff, w, L.ffnUp, L.ffnUpBias, grad, dLn, 0);
        // LayerNorm
        double[] dAtt = new double[n * p];
        for (int t = 0; t < n; t++) {
            double meanD = 0, meanDx = 0;
            for (int i = 0; i < p; i++) {
                double dl = dLn[t * p + i], xh = f.xhat[t * p + i];
                grad[L.normWeight + i] += dl * xh;
                grad[L.normBias + i] += dl;
                double dxh = dl * w[L.normWeight + i];
                meanD += dxh;
                meanDx += dxh * xh;
            }
            meanD /= p;
            meanDx /= p;
            for (int i = 0; i < p; i++) {
                double dxh = dLn[t * p + i] * w[L.normWeight + i];
                dAtt[t * p + i] = f.rstd[t] * (dxh - meanD - f.xhat[t * p + i] * meanDx);
            }
        }
        // attention block
        double[] dq = new double[n * p], dk = new double[n * p], dv = new double[n * p], dProb = new double[n];
        int tri = n * (n + 1) / 2;
        double scale = 1 / Math.sqrt(hd);
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                int row = h * tri + t * (t + 1) / 2, o = h * hd;
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    double pj = f.probs[row + j], dpj = 0;
                    for (int d = 0; d < hd; d++) {
                        dpj += dAtt[t * p + o + d] * f.v[j * p + o + d];
                        dv[j * p + o + d] += pj * dAtt[t * p + o + d];
                    }
                    dProb[j] = dpj;
                    sum += pj * dpj;
                }
                for (int j = 0; j <= t; j++) {
                    double ds = f.probs[row + j] * (dProb[j] - sum) * scale;
                    for (int d = 0; d < hd; d++) {
                        dq[t * p + o + d] += ds * f.k[j * p + o + d];
                        dk[j * p + o + d] += ds * f.q[t * p + o + d];
                    }
                }
            }
        }
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                rope(dq, t * p + h * hd, hd, t, attnCos, attnSin, true);
                rope(dk, t * p + h * hd, hd, t, attnCos, attnSin, true);
            }
        }
        double[] dXr = new double[n * p];
        linearBackward(f.xr, dq, n, p, p, w, L.attnQ, -1, grad, dXr, 0);
        linearBackward(f.xr, dk, n, p, p, w, L.attnK, -1, grad, dXr, 0);
        linearBackward(f.xr, dv, n, p, p, w, L.attnV, -1, grad, dXr, 0);
        linearBackward(f.x, dXr, n, e, p, w, L.inputProj, -1, grad, null, 0);
    }

    /** Backward through down(SiLU(up · hidden)) for the rows first..dim-1 of the output. */
    private void importanceBackward(double[] w, double[] mid, double[] act, double[] hidden, double[] dOut, int up, int down,
                                    double[] dHidden, double[] grad, int n, int e, int ih, int dim, int first) {
        double[] dAct = new double[n * ih];
        linearBackward(act, dOut, n, ih, dim, w, down, -1, grad, dAct, first);
        for (int i = 0; i < dAct.length; i++) {
            double m = mid[i], sg = 1 / (1 + Math.exp(-m));
            dAct[i] *= sg * (1 + m * (1 - sg));
        }
        linearBackward(hidden, dAct, n, e, ih, w, up, -1, grad, dHidden, 0);
    }

    /**
     * y = x W^T (+ b) for output rows first..out-1 (rows below first stay 0); W at w[off], [out][in].
     * @param bias offset of the bias in w, or -1
     */
    static double[] linear(double[] x, int n, int in, double[] w, int off, int out, int bias, int first) {
        double[] y = new double[n * out];
        for (int t = 0; t < n; t++) {
            for (int r = first; r < out; r++) {
                double s = bias < 0 ? 0 : w[bias + r];
                y[t * out + r] = s + dot(x, t * in, w, off + r * in, in);
            }
        }
        return y;
    }

    /**
     * Gradients of y = x W^T + b given dy (rows first..out-1): dW += dy^T x, db += sum dy, and dx += dy W when dx
     * is not null.
     */
    static void linearBackward(double[] x, double[] dy, int n, int in, int out, double[] w, int off, int bias,
                               double[] grad, double[] dx, int first) {
        for (int t = 0; t < n; t++) {
            for (int r = first; r < out; r++) {
                double g = dy[t * out + r];
                if (g == 0) continue;
                if (bias >= 0) grad[bias + r] += g;
                axpy(g, x, t * in, grad, off + r * in, in);
                if (dx != null) axpy(g, w, off + r * in, dx, t * in, in);
            }
        }
    }

    /**
     * Sum of x[xo+i] * y[yo+i] with four partial sums (i mod 4) added at the end: a fixed order, so the same
     * inputs give the same bits, and four independent chains instead of one (the JIT does not reorder a
     * floating-point sum by itself).
     */
    static double dot(double[] x, int xo, double[] y, int yo, int len) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += x[xo + i] * y[yo + i];
            s1 += x[xo + i + 1] * y[yo + i + 1];
            s2 += x[xo + i + 2] * y[yo + i + 2];
            s3 += x[xo + i + 3] * y[yo + i + 3];
        }
        for (; i < len; i++) s0 += x[xo + i] * y[yo + i];
        return (s0 + s1) + (s2 + s3);
    }

    /** y[yo..yo+len) += a * x[xo..xo+len). */
    static void axpy(double a, double[] x, int xo, double[] y, int yo, int len) {
        for (int i = 0; i < len; i++) y[yo + i] += a * x[xo + i];
    }

    private static double[] silu(double[] m) {
        double[] out = new double[m.length];
        for (int i = 0; i < m.length; i++) out[i] = m[i] / (1 + Math.exp(-m[i]));
        return out;
    }

    /**
     * Rotate-half RoPE at one position (value i pairs with i + dim/2); transposed = the inverse rotation, which is
     * the backward pass of the rotation.
     */
    static void rope(double[] v, int off, int dim, int pos, double[] cosT, double[] sinT, boolean transposed) {
        int half = dim / 2;
        for (int i = 0; i < half; i++) {
            double cos = cosT[pos * half + i], sin = transposed ? -sinT[pos * half + i] : sinT[pos * half + i];
            double a = v[off + i], b = v[off + i + half];
            v[off + i] = a * cos - b * sin;
            v[off + i + half] = b * cos + a * sin;
        }
    }
}
