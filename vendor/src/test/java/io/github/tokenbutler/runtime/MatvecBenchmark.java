package io.github.tokenbutler.runtime;

import java.nio.file.Path;

/**
 * Not a test: times one decode matrix-vector product of a GGUF tensor on the calling thread, for kernel work
 * (the numbers in vendor/README.md's speed notes). Run from vendor/ after {@code mvn test-compile}:
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * io.github.tokenbutler.runtime.MatvecBenchmark M.gguf blk.0.ffn_up.weight [repeats]}.
 */
public final class MatvecBenchmark {
    private MatvecBenchmark() {}

    public static void main(String[] args) {
        try (Llama3.GGUF gguf = Llama3.GGUF.read(Path.of(args[0]))) {
            Llama3.FloatTensor w = Llama3.FloatTensor.of(gguf, args[1]);
            int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 20;
            long[] shape = gguf.tensors().get(args[1]).shape();
            int cols = (int) shape[0], rows = (int) shape[1];
            float[] x = new float[cols], out = new float[rows], scratch = new float[cols];
            java.util.Random rnd = new java.util.Random(1);
            for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
            for (int round = 0; round < 8; round++) {
                long t0 = System.nanoTime();
                int chunk = Integer.getInteger("chunk", rows);
                for (int r = 0; r < repeats; r++) {
                    if (Boolean.getBoolean("par")) {
                        Llama3.Parallel.forRange(rows, Math.max(4, rows / (Llama3.Parallel.THREADS * Integer.getInteger("split", 16))),
                                (a, b, wk) -> w.matvec(x, cols, out, 0, a, b, false, new float[cols]));
                        continue;
                    }
                    for (int c = 0; c < rows; c += chunk) w.matvec(x, cols, out, 0, c, Math.min(rows, c + chunk), false, scratch);
                }
                double s = (System.nanoTime() - t0) / 1e9 / repeats;
                System.out.printf("%s %s [%d][%d]: %.3f ms, %.1f GB/s, %.2f G elements/s%n", args[1], w.type(), rows, cols,
                        s * 1e3, w.data.byteSize() / s / 1e9, (double) rows * cols / s / 1e9);
            }
        }
    }
}
