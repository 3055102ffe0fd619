package io.github.tokenbutler.train;

/**
 * AdamW (Loshchilov and Hutter): Adam moments with bias correction, and weight decay applied to the weights
 * directly (p -= lr * decay * p) rather than through the gradient, as PyTorch's torch.optim.AdamW does. Only
 * linear weights decay (see {@link ParameterLayout.Slice#decays}). The moments are part of a checkpoint, so a
 * resumed run continues with exactly the same numbers.
 */
public final class AdamW {
    public static final double BETA1 = 0.9, BETA2 = 0.999, EPSILON = 1e-8;
    private final double[] m, v;
    private final boolean[] decays;
    private final double weightDecay;

    public AdamW(ParameterLayout layout, double weightDecay) {
        this(layout, weightDecay, new double[layout.size()], new double[layout.size()]);
    }

    /** With moments restored from a checkpoint. */
    public AdamW(ParameterLayout layout, double weightDecay, double[] m, double[] v) {
        if (m.length != layout.size() || v.length != layout.size()) throw new IllegalArgumentException("moment arrays do not fit the layout");
        this.m = m;
        this.v = v;
        this.weightDecay = weightDecay;
        this.decays = new boolean[layout.size()];
        for (ParameterLayout.Slice s : layout.slices()) {
            if (s.decays()) java.util.Arrays.fill(decays, s.offset(), s.offset() + s.size(), true);
        }
    }

    public double[] firstMoment() { return m; }

    public double[] secondMoment() { return v; }

    /** One update; step is 1-based (the number of updates including this one). */
    public void update(double[] params, double[] grad, double lr, int step) {
        double c1 = 1 - Math.pow(BETA1, step), c2 = 1 - Math.pow(BETA2, step);
        for (int i = 0; i < params.length; i++) {
            double g = grad[i];
            m[i] = BETA1 * m[i] + (1 - BETA1) * g;
            v[i] = BETA2 * v[i] + (1 - BETA2) * g * g;
            if (decays[i]) params[i] -= lr * weightDecay * params[i];
            params[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + EPSILON);
        }
    }

    /** Scales grad so that its global L2 norm is at most maxNorm (0: no clipping); returns the norm before. */
    public static double clipGlobalNorm(double[] grad, double maxNorm) {
        double ss = 0;
        for (double g : grad) ss += g * g;
        double norm = Math.sqrt(ss);
        if (maxNorm > 0 && norm > maxNorm) {
            double s = maxNorm / norm;
            for (int i = 0; i < grad.length; i++) grad[i] *= s;
        }
        return norm;
    }
}
