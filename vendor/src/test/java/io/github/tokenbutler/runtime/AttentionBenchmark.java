package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;

import java.util.Random;

/**
 * Not a test: times one layer's decode attention on the calling thread, 8 KV heads of size 64 with 4 query heads
 * each (the Llama-3.2-1B shape), over every position or over a random share of them (what a sparse selection
 * hands the same kernel), for the row costs in the README's "Long context" section. Run from vendor/ after
 * {@code mvn test-compile}: {@code java -Xmx12g --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * io.github.tokenbutler.runtime.AttentionBenchmark POSITIONS SHARE [f16|q8_0|f32]}, e.g. {@code 65536 0.25 f16}
 * (65536 positions are 128 MiB of f16 K/V: far beyond the caches).
 */
public final class AttentionBenchmark {
    private AttentionBenchmark() {}

    public static void main(String[] args) {
        int positions = Integer.parseInt(args[0]), heads = 4, headSize = 64, kvHeads = 8, width = kvHeads * headSize;
        double share = Double.parseDouble(args[1]);
        KvType type = KvType.valueOf(args.length > 2 ? args[2].toUpperCase(java.util.Locale.ROOT) : "F16");
        Random r = new Random(1);
        float[] rows = new float[positions * width];
        for (int i = 0; i < rows.length; i++) rows[i] = (float) r.nextGaussian();
        KvRows keys = KvRows.of(type, rows, width, headSize), values = KvRows.of(type, rows, width, headSize);
        float[] q = new float[heads * headSize];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        int[] indices = new int[positions];
        int count = 0;
        for (int p = 0; p < positions; p++) if (share >= 1 || r.nextDouble() < share) indices[count++] = p;
        int[] list = share >= 1 ? null : indices; // every position: the dense path, no index list
        float[] weights = new float[heads * positions], out = new float[heads * headSize];
        // 40 rounds, the figure the median of the last 8: the JIT and the memory settle late with an index list
        double[] ns = new double[40];
        for (int round = 0; round < ns.length; round++) {
            int reps = 5;
            long t0 = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                for (int kv = 0; kv < kvHeads; kv++) {
                    DenseAttention.attendGroup(q, 0, heads, keys, values, kv * headSize, headSize, list, count, weights, positions, out, 0);
                }
            }
            ns[round] = (System.nanoTime() - t0) / (double) reps / ((long) count * kvHeads);
        }
        double[] last = java.util.Arrays.copyOfRange(ns, ns.length - 8, ns.length);
        java.util.Arrays.sort(last);
        System.out.printf(java.util.Locale.ROOT, "%d positions, %d attended, %s: %.1f ns a row (K and V of one KV head; median of the last 8 of %d rounds, min %.1f)%n",
                positions, count, type, last[4], ns.length, last[0]);
    }
}
