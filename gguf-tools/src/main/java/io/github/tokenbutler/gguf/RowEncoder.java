package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Produces a tensor's bytes row by row while the file is written: about 8 MiB of rows at a time, each
 * row made as floats by a {@link RowSource} and encoded to the output type, the rows of a chunk in
 * parallel on the given pool. Output bytes do not depend on the number of threads.
 */
public final class RowEncoder {
    private RowEncoder() {}

    /** Fills {@code x} (the row's length) with the values of row {@code row}; called from several threads. */
    @FunctionalInterface
    public interface RowSource {
        void fill(long row, float[] x);
    }

    private static final int CHUNK_BYTES = 8 << 20;

    /** A tensor source for {@link GgufWriter#addTensor(String, GGMLType, long[], GgufWriter.TensorSource)}. */
    public static GgufWriter.TensorSource source(String name, GGMLType type, long[] shape, ForkJoinPool pool, RowSource rows) {
        return out -> encode(name, type, shape, pool, rows, out);
    }

    static void encode(String name, GGMLType type, long[] shape, ForkJoinPool pool, RowSource source, WritableByteChannel out) throws IOException {
        int rowLength = Math.toIntExact(shape[0]);
        long rows = 1;
        for (int d = 1; d < shape.length; d++) rows *= shape[d];
        int rowBytes = Math.toIntExact(type.byteSize(rowLength));
        int chunkRows = (int) Math.max(1, Math.min(rows, CHUNK_BYTES / rowBytes));
        byte[] chunk = new byte[Math.multiplyExact(chunkRows, rowBytes)];
        ThreadLocal<float[]> scratch = ThreadLocal.withInitial(() -> new float[rowLength]);
        for (long first = 0; first < rows; first += chunkRows) {
            int count = (int) Math.min(chunkRows, rows - first);
            long firstRow = first;
            Runnable fill = () -> IntStream.range(0, count).parallel().forEach(r -> {
                float[] x = scratch.get();
                source.fill(firstRow + r, x);
                Quantizers.quantize(type, x, 0, rowLength, chunk, r * rowBytes);
            });
            try {
                pool.submit(fill).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while encoding " + name, e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException("encoding " + name + " failed", e.getCause());
            }
            ByteBuffer b = ByteBuffer.wrap(chunk, 0, count * rowBytes);
            while (b.hasRemaining()) out.write(b);
        }
    }
}
