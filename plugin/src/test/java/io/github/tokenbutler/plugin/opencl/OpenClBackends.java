package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.plugin.kernel.SparseAttentionKernel;
import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.selection.TopKSelection;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The backends the OpenCL tests run on: the CPU's Vector API kernels, and OpenCL on every device found. Without
 * any OpenCL the OpenCL cases are absent and {@link #requireOpenCl} skips with the reason, except when CI=true:
 * CI installs PoCL, so no OpenCL there is a failure, not a skip.
 */
final class OpenClBackends {
    private static List<ClDevice> devices;
    private static String unavailable;
    private static final List<TokenKernels> opened = new ArrayList<>();

    private OpenClBackends() {}

    static synchronized List<ClDevice> devices() {
        if (devices == null) {
            try {
                devices = Cl.devices();
                if (devices.isEmpty()) unavailable = "the OpenCL loader " + Cl.libraryName() + " lists no device (install pocl-opencl-icd;"
                        + " PoCL needs a writable POCL_CACHE_DIR, now " + System.getenv("POCL_CACHE_DIR") + ")";
            } catch (ClException | LinkageError e) {
                devices = List.of();
                unavailable = e.getMessage();
            }
        }
        return devices;
    }

    /** Skips (or, under CI=true, fails) a test that needs an OpenCL device. */
    static ClDevice requireOpenCl() {
        List<ClDevice> d = devices();
        if (d.isEmpty()) {
            String why = "no OpenCL: " + unavailable;
            if ("true".equals(System.getenv("CI"))) fail(why + " -- CI installs PoCL (.ci/run), so OpenCL tests must not be skipped there");
            assumeTrue(false, why);
        }
        return d.getFirst();
    }

    /** One OpenCL kernel set per device, shared by the tests of a JVM; skips (or fails under CI) without OpenCL. */
    static List<OpenClKernels> kernels() {
        requireOpenCl();
        return all().stream().filter(OpenClKernels.class::isInstance).map(OpenClKernels.class::cast).toList();
    }

    /** The CPU kernels and one OpenCL kernel set per device (opened once, shared by the tests of a JVM). */
    static synchronized List<TokenKernels> all() {
        if (opened.isEmpty()) {
            opened.add(new VectorApiKernels());
            for (ClDevice d : devices()) opened.add(new OpenClKernels(d));
            if (devices().isEmpty() && "true".equals(System.getenv("CI"))) {
                throw new IllegalStateException("no OpenCL under CI=true: " + unavailable);
            }
        }
        return opened;
    }

    /** The CPU path: the stores' Vector API scoring, TopKSelection and SparseAttentionKernel. */
    static final class VectorApiKernels implements TokenKernels {
        private final TopKSelection topK = new TopKSelection(0);

        @Override public String name() { return "cpu (Vector API)"; }

        @Override
        public void importanceScores(BlockedVectorStore keys, int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
            if (nGroups == 1) keys.dotScores(g0, q, qOff, count, scale, out);
            else keys.dotScoresSum(g0, nGroups, q, qOff, count, scale, out);
        }

        @Override
        public int topK(float[] scores, int from, int to, int k, int[] out, int outOff) {
            topK.ensureCapacity(to);
            return topK.select(scores, from, to, k, out, outOff);
        }

        @Override
        public void sparseAttention(float[] q, int qOff, int heads, float[] keyCache, float[] valueCache, int kvDim, int kvOff,
                                    int headSize, int[] indices, int count, float[] out, int outOff) {
            SparseAttentionKernel.attend(q, qOff, heads, KvRows.wrap(keyCache, kvDim), KvRows.wrap(valueCache, kvDim), kvOff, headSize, indices, count,
                    new float[heads * Math.max(1, count)], Math.max(1, count), out, outOff);
        }

        @Override public void close() {}

        @Override public String toString() { return name(); }
    }
}
