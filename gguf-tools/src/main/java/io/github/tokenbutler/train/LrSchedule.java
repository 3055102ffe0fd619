package io.github.tokenbutler.train;

/**
 * Learning rate per step: linear warm-up from lr/warmup to lr over the first {@code warmup} steps, then cosine
 * decay to {@code lr * MIN_RATIO} at the last step. A floor above zero keeps the last steps useful.
 */
public record LrSchedule(double lr, int warmup, int steps) {
    public static final double MIN_RATIO = 0.1;

    /** The rate for 0-based step. */
    public double at(int step) {
        if (step < warmup) return lr * (step + 1) / warmup;
        int decaySteps = Math.max(1, steps - warmup - 1);
        double progress = Math.min(1.0, (double) (step - warmup) / decaySteps);
        double min = lr * MIN_RATIO;
        return min + 0.5 * (lr - min) * (1 + Math.cos(Math.PI * progress));
    }
}
