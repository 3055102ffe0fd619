package io.github.tokenbutler.runtime;

import java.nio.file.Path;

/**
 * Not a test: times one decode matrix-vector product of a GGUF tensor on the calling thread, for kernel work
 * (the numbers in vendor/README.md's speed notes). Run from vendor/ after {@code mvn test-compile}:
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * io.github.tokenbutler.runtime.MatvecBenchmark M.gguf blk.0.ffn_up.weight [repeats]}, or with random blocks of any
 * type ({@link TensorKernelsTest#randomBlocks}) instead of a file: {@code ... MatvecBenchmark --random Q4_K 8192 2048 [repeats]}
 * (rows, columns; the 1B shape's ffn_up is 8192 x 2048, 24 MB as Q8_0: beyond the caches).
 */
public final class MatvecBenchmark {
    private MatvecBenchmark() {}

    /** CPU time is what a loaded machine distorts least (wall time there includes waiting for a core). */
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        if (args[0].equals("--random")) {
            Llama3.GGMLType type = Llama3.GGMLType.valueOf(args[1]);
            int rows = Integer.parseInt(args[2]), cols = Integer.parseInt(args[3]);
            byte[] bytes = TensorKernelsTest.randomBlocks(type, rows * cols, new java.util.Random(1));
            java.lang.foreign.MemorySegment seg = java.lang.foreign.Arena.ofAuto().allocate(bytes.length, 64);
            seg.copyFrom(java.lang.foreign.MemorySegment.ofArray(bytes));
            Llama3.FloatTensor w = Llama3.FloatTensor.of(new Llama3.TensorInfo("random", type, new long[] {cols, rows}, 0), seg);
            time(w, "random", rows, cols, args.length > 4 ? Integer.parseInt(args[4]) : 20);
            return;
        }
        try (Llama3.GGUF gguf = Llama3.GGUF.read(Path.of(args[0]))) {
            Llama3.FloatTensor w = Llama3.FloatTensor.of(gguf, args[1]);
            int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 20;
            long[] shape = gguf.tensors().get(args[1]).shape();
            time(w, args[1], (int) shape[1], (int) shape[0], repeats);
        }
    }

    private static void time(Llama3.FloatTensor w, String name, int rows, int cols, int repeats) {
        {
            float[] x = new float[cols], out = new float[rows], scratch = new float[cols];
            java.util.Random rnd = new java.util.Random(1);
            for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
            // -Dgrouped=true: a Q8_0 or Q4_0 tensor's row-group copy and its int8 kernel (what decode runs when the copy fits)
            Llama3.QuantizedInput xq = null;
            // -Dint8=true: a Q6_K tensor's int8 copy row by row (float loop); with -Dgrouped=true in row groups (int8 kernel)
            if (Boolean.getBoolean("int8") && w instanceof Llama3.Q6_KTensor q6) q6.repackForDecode(Boolean.getBoolean("grouped") ? cols : 0);
            if (Boolean.getBoolean("grouped") && (w instanceof Llama3.RowGroupTensor g && g.repackRowGroups(cols) > 0 || w.takesQuantizedInput())) {
                xq = new Llama3.QuantizedInput();
                xq.quantize(x, cols);
            }
            Llama3.QuantizedInput quantized = xq;
            for (int round = 0; round < 8; round++) {
                long t0 = System.nanoTime(), cpu0 = CPU.getCurrentThreadCpuTime();
                int chunk = Integer.getInteger("chunk", rows);
                for (int r = 0; r < repeats; r++) {
                    if (Boolean.getBoolean("par")) {
                        Llama3.Parallel.forRange(rows, Math.max(4, rows / (Llama3.Parallel.THREADS * Integer.getInteger("split", 16))),
                                (a, b, wk) -> {
                                    if (quantized == null || !w.matvecQuantized(quantized, out, 0, a, b, false)) w.matvec(x, cols, out, 0, a, b, false, new float[cols]);
                                });
                        continue;
                    }
                    for (int c = 0; c < rows; c += chunk) {
                        if (quantized == null || !w.matvecQuantized(quantized, out, 0, c, Math.min(rows, c + chunk), false)) {
                            w.matvec(x, cols, out, 0, c, Math.min(rows, c + chunk), false, scratch);
                        }
                    }
                }
                double s = (System.nanoTime() - t0) / 1e9 / repeats, cpu = (CPU.getCurrentThreadCpuTime() - cpu0) / 1e9 / repeats;
                System.out.printf("%s %s [%d][%d]: %.3f ms, %.1f GB/s, %.2f G elements/s (this thread's CPU time: %.3f ms, %.2f G elements/s)%n",
                        name, w.type(), rows, cols, s * 1e3, w.data.byteSize() / s / 1e9, (double) rows * cols / s / 1e9,
                        cpu * 1e3, (double) rows * cols / cpu / 1e9);
            }
        }
    }
}
