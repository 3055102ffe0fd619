package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;

import java.util.Arrays;

/**
 * The training loss of one sequence and its exact gradient for a revised (v2) predictor, in float64. The forward
 * pass is the one {@code RevisedImportanceState} (plugin) runs: per producer p (layer p*G), LayerNorm of that
 * layer's attention input, Linear(E -> I), SiLU, Linear(I -> G*H*d'): the queries of layers p*G..p*G+G-1; per
 * layer, each KV head's post-RoPE key times its d' x head-size projection (rotary: the key before RoPE, and both
 * importance vectors rotated at their positions). The loss rows are {@link HeadRows}'s,
 * over layers 1..L-1 and every query head (a head reads its KV head's projected keys), as for v1.
 *
 * <p>GradientCheckTest checks every tensor's gradient against central finite differences and the predicted
 * logits against the plugin's state.
 */
public final class RevisedBackprop implements SequenceGradient {
    private final RevisedPredictorConfig c;
    private final ParameterLayout layout;
    private final TrainingLoss loss;
    private final int[] normWeight, normBias, up, upBias, down, downBias, keyProjection;
    /** Rotary: cos/sin of pos * theta^(-2i/d'), [pos][d'/2], grown as longer sequences come. */
    private double[] cos = new double[0], sin = new double[0];

    public RevisedBackprop(RevisedPredictorConfig config, TrainingLoss loss) {
        // The authors' producer-to-layer offset exists only for imported predictors; these gradients assume layer l reads slot l mod G.
        if (config.consumerOffset() != 0) throw new IllegalArgumentException("training supports consumer offset 0 only, got " + config.consumerOffset());
        this.c = config;
        this.layout = new ParameterLayout(config);
        this.loss = loss;
        int producers = config.producers();
        normWeight = new int[producers];
        normBias = new int[producers];
        up = new int[producers];
        upBias = new int[producers];
        down = new int[producers];
        downBias = new int[producers];
        for (int p = 0; p < producers; p++) {
            normWeight[p] = layout.offset(PredictorFormat.producerNormWeight(p));
            normBias[p] = layout.offset(PredictorFormat.producerNormBias(p));
            up[p] = layout.offset(PredictorFormat.producerUp(p));
            upBias[p] = layout.offset(PredictorFormat.producerUpBias(p));
            down[p] = layout.offset(PredictorFormat.producerDown(p));
            downBias[p] = layout.offset(PredictorFormat.producerDownBias(p));
        }
        keyProjection = new int[config.modelLayers()];
        for (int l = 0; l < config.modelLayers(); l++) keyProjection[l] = layout.offset(PredictorFormat.keyProjection(l));
    }

    /** The rotation tables for positions 0..n-1 (the plugin's angles, in double). */
    private synchronized void ropeTables(int n) {
        int half = c.dPrime() / 2;
        if (cos.length >= n * half) return;
        double[] cs = new double[n * half], sn = new double[n * half];
        for (int pos = 0; pos < n; pos++) {
            for (int i = 0; i < half; i++) {
                double angle = pos * Math.pow(c.ropeTheta(), -2.0 * i / c.dPrime());
                cs[pos * half + i] = Math.cos(angle);
                sn[pos * half + i] = Math.sin(angle);
            }
        }
        cos = cs;
        sin = sn;
    }

    /** Rotates (or, transposed, rotates back) every d'-vector of rows [n][perRow] at its row's position. */
    private void rotate(double[] v, int n, int perRow, boolean transposed) {
        int dp = c.dPrime();
        double[] cs, sn;
        synchronized (this) { cs = cos; sn = sin; }
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < perRow; o += dp) PredictorBackprop.rope(v, t * perRow + o, dp, t, cs, sn, transposed);
        }
    }

    public ParameterLayout layout() { return layout; }

    /** What the forward pass keeps for the backward pass. */
    private record Forward(double[][] xhat, double[][] y, double[][] pre, double[][] act, double[][] q, double[][] keys, double[][] keysIn) {}

    private Forward forward(double[] w, TeacherSample s) {
        if (c.rotary()) {
            if (s.keysBeforeRope() == null) throw new IllegalArgumentException("a rotary predictor needs the sample's keys before RoPE");
            ropeTables(s.n());
        }
        int n = s.n(), e = c.modelDim(), hidden = c.importanceHidden(), out = c.producerOutput(), producers = c.producers();
        double[][] xhat = new double[producers][], y = new double[producers][], pre = new double[producers][], act = new double[producers][],
                q = new double[producers][];
        for (int p = 0; p < producers; p++) {
            float[] x = p == 0 ? s.x() : s.inputs()[p * c.producerSpacing()];
            if (x == null) throw new IllegalArgumentException("the sample has no attention input of producer layer " + p * c.producerSpacing());
            xhat[p] = new double[n * e];
            y[p] = new double[n * e];
            for (int t = 0; t < n; t++) {
                double mean = 0, var = 0;
                for (int i = 0; i < e; i++) mean += x[t * e + i];
                mean /= e;
                for (int i = 0; i < e; i++) { double d = x[t * e + i] - mean; var += d * d; }
                var /= e;
                double inv = 1 / Math.sqrt(var + c.layerNormEps());
                for (int i = 0; i < e; i++) {
                    double h = (x[t * e + i] - mean) * inv;
                    xhat[p][t * e + i] = h;
                    y[p][t * e + i] = h * w[normWeight[p] + i] + w[normBias[p] + i];
                }
            }
            pre[p] = PredictorBackprop.linear(y[p], n, e, w, up[p], hidden, upBias[p], 0);
            act[p] = new double[pre[p].length];
            for (int i = 0; i < act[p].length; i++) act[p][i] = pre[p][i] / (1 + Math.exp(-pre[p][i]));
            q[p] = PredictorBackprop.linear(act[p], n, hidden, w, down[p], out, downBias[p], 0);
            if (c.rotary()) rotate(q[p], n, out, false);
        }
        int kvHeads = c.modelKvHeads(), hs = c.modelHeadSize(), dp = c.dPrime(), kvDim = kvHeads * hs;
        double[][] keys = new double[c.modelLayers()][], keysIn = new double[c.modelLayers()][];
        for (int l = 1; l < c.modelLayers(); l++) {
            float[] lk = c.rotary() ? s.keysBeforeRope()[l] : s.keys()[l];
            keysIn[l] = new double[n * kvDim];
            for (int i = 0; i < keysIn[l].length; i++) keysIn[l][i] = lk[i];
            keys[l] = new double[n * kvHeads * dp];
            for (int t = 0; t < n; t++) {
                for (int kv = 0; kv < kvHeads; kv++) {
                    for (int j = 0; j < dp; j++) {
                        keys[l][(t * kvHeads + kv) * dp + j] = PredictorBackprop.dot(w, keyProjection[l] + (kv * dp + j) * hs, keysIn[l], t * kvDim + kv * hs, hs);
                    }
                }
            }
            if (c.rotary()) rotate(keys[l], n, kvHeads * dp, false);
        }
        return new Forward(xhat, y, pre, act, q, keys, keysIn);
    }

    /** The predicted logits of query i, layer (1..L-1), head over keys 0..i (for tests). */
    public double[] logits(double[] w, TeacherSample s, int layer, int head, int i) {
        Forward f = forward(w, s);
        int dp = c.dPrime(), kv = head / c.modelKvGroup(), qOff = ((layer % c.producerSpacing()) * c.modelHeads() + head) * dp;
        double[] out = new double[i + 1];
        double[] q = f.q()[c.producerOf(layer)];
        for (int t = 0; t <= i; t++) {
            out[t] = PredictorBackprop.dot(q, i * c.producerOutput() + qOff, f.keys()[layer], (t * c.modelKvHeads() + kv) * dp, dp) / Math.sqrt(dp);
        }
        return out;
    }

    @Override
    public PredictorBackprop.SequenceLoss lossAndGradient(double[] w, TeacherSample s, double[] grad, boolean measureHitRate) {
        int n = s.n(), dp = c.dPrime(), heads = c.modelHeads(), kvHeads = c.modelKvHeads(), hs = c.modelHeadSize();
        int kvDim = kvHeads * hs, qDim = heads * hs, group = c.modelKvGroup(), out = c.producerOutput(), spacing = c.producerSpacing();
        Forward f = forward(w, s);
        long pairs = (long) (c.modelLayers() - 1) * heads * n * (n + 1) / 2;
        double invNorm = 1 / loss.normalizer((long) (c.modelLayers() - 1) * heads, n);
        double predScale = 1 / Math.sqrt(dp), trueScale = 1 / Math.sqrt(hs);
        double[][] dq = new double[c.producers()][], dKeys = new double[c.modelLayers()][];
        if (grad != null) {
            for (int p = 0; p < dq.length; p++) dq[p] = new double[n * out];
            for (int l = 1; l < c.modelLayers(); l++) dKeys[l] = new double[n * kvHeads * dp];
        }
        double[] qg = new double[n * dp], kgT = new double[dp * n], dqg = new double[n * dp], dkgT = new double[dp * n];
        double[] tq = new double[n * hs], tkT = new double[hs * n];
        HeadRows rows = new HeadRows(loss, n);
        double sum = 0;
        for (int layer = 1; layer < c.modelLayers(); layer++) {
            float[] lq = s.queries()[layer];
            double[] q = f.q()[c.producerOf(layer)], keys = f.keys()[layer];
            float[] lk = s.keys()[layer]; // the true logits read the keys as attention does, after RoPE
            for (int h = 0; h < heads; h++) {
                int kv = h / group, qOff = ((layer % spacing) * heads + h) * dp;
                for (int t = 0; t < n; t++) {
                    for (int d = 0; d < dp; d++) {
                        qg[t * dp + d] = q[t * out + qOff + d] * predScale;
                        kgT[d * n + t] = keys[(t * kvHeads + kv) * dp + d];
                    }
                    for (int e = 0; e < hs; e++) {
                        tq[t * hs + e] = lq[t * qDim + h * hs + e] * trueScale;
                        tkT[e * n + t] = lk[t * kvDim + kv * hs + e];
                    }
                }
                if (grad != null) {
                    Arrays.fill(dqg, 0);
                    Arrays.fill(dkgT, 0);
                }
                sum += rows.run(qg, kgT, tq, tkT, n, dp, hs, invNorm, predScale, grad == null ? null : dqg, dkgT, measureHitRate);
                if (grad != null) {
                    double[] dqp = dq[c.producerOf(layer)], dk = dKeys[layer];
                    for (int t = 0; t < n; t++) {
                        for (int d = 0; d < dp; d++) {
                            dqp[t * out + qOff + d] += dqg[t * dp + d];
                            dk[(t * kvHeads + kv) * dp + d] += dkgT[d * n + t];
                        }
                    }
                }
            }
        }
        if (grad != null) backward(w, f, dq, dKeys, grad, n);
        return new PredictorBackprop.SequenceLoss(sum * invNorm, pairs, rows.hitSum, rows.hitRows);
    }

    private void backward(double[] w, Forward f, double[][] dq, double[][] dKeys, double[] grad, int n) {
        int e = c.modelDim(), hidden = c.importanceHidden(), out = c.producerOutput();
        int kvHeads = c.modelKvHeads(), hs = c.modelHeadSize(), dp = c.dPrime(), kvDim = kvHeads * hs;
        if (c.rotary()) {
            for (double[] d : dq) rotate(d, n, out, true);
            for (int l = 1; l < c.modelLayers(); l++) rotate(dKeys[l], n, kvHeads * dp, true);
        }
        for (int l = 1; l < c.modelLayers(); l++) {
            for (int t = 0; t < n; t++) {
                for (int kv = 0; kv < kvHeads; kv++) {
                    for (int j = 0; j < dp; j++) {
                        double g = dKeys[l][(t * kvHeads + kv) * dp + j];
                        if (g != 0) PredictorBackprop.axpy(g, f.keysIn()[l], t * kvDim + kv * hs, grad, keyProjection[l] + (kv * dp + j) * hs, hs);
                    }
                }
            }
        }
        for (int p = 0; p < c.producers(); p++) {
            double[] dAct = new double[n * hidden];
            PredictorBackprop.linearBackward(f.act()[p], dq[p], n, hidden, out, w, down[p], downBias[p], grad, dAct, 0);
            double[] pre = f.pre()[p];
            for (int i = 0; i < dAct.length; i++) {
                double sg = 1 / (1 + Math.exp(-pre[i]));
                dAct[i] *= sg * (1 + pre[i] * (1 - sg));
            }
            double[] dY = new double[n * e];
            PredictorBackprop.linearBackward(f.y()[p], dAct, n, e, hidden, w, up[p], upBias[p], grad, dY, 0);
            double[] xhat = f.xhat()[p];
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < e; i++) {
                    grad[normWeight[p] + i] += dY[t * e + i] * xhat[t * e + i];
                    grad[normBias[p] + i] += dY[t * e + i];
                }
            }
        }
    }
}
