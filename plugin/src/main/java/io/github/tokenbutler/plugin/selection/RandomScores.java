package io.github.tokenbutler.plugin.selection;

/**
 * Seeded pseudo-random scores for the random policy. Stateless: the score of key t for (layer, unit, query
 * position p) is a hash of (seed, layer, unit, p, t), so a batched call, a decode loop and any thread schedule
 * all make the same selections.
 */
public final class RandomScores {
    private RandomScores() {}

    /** Writes the scores of keys from..to-1 into out[from..to), uniform in [0, 1) with 24 random bits. */
    public static void fill(long seed, int layer, int unit, int p, int from, int to, float[] out) {
        long base = mix(mix(mix(seed ^ 0x9E3779B97F4A7C15L) + layer) * 31 + unit) * 0x100000001B3L + p;
        base = mix(base);
        for (int t = from; t < to; t++) out[t] = (mix(base + t * 0x9E3779B97F4A7C15L) >>> 40) * 0x1.0p-24f;
    }

    /** SplitMix64's finalizer: a bijection on longs whose output bits all depend on all input bits. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
