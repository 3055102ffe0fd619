package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * quantize_keys.cl on each device against the CPU's store, which is the reference: the bytes (and scales) the
 * device stores must be exactly what {@link BlockedVectorStore#put} stores, in every precision, so that the device's
 * scores are the CPU's and a CPU taking a sequence over reads the keys the device used.
 *
 * <p>Inputs: Gaussian keys of several scales; vectors whose quantized values fall exactly on a half (after the
 * scale, x = k + 0.5 with absmax 127 or 7, so that Java's ties toward +infinity differ from rounding half to even
 * and from rounding half away from zero); a value just below a half (0.49999997 rounds to 0, floor(x + 0.5)
 * would give 1); a zero vector (scale 0); for F16 values beyond the half range (saturated), at its rounding
 * boundaries and in its subnormals. d' 6, 8 and 16 (Q4 with an odd pair count at 6), positions not starting at a
 * block boundary.
 */
class QuantizeKeysTest {
    static List<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (OpenClKernels k : OpenClBackends.kernels()) {
            System.out.println(k.name() + ": quantize_keys.cl divides exactly with " + Cl.exactDivisionOptions(k.context().device()));
            for (KeyPrecision p : KeyPrecision.values()) for (int dim : new int[]{6, 8, 16}) all.add(Arguments.of(k, p, dim));
        }
        return all;
    }

    @ParameterizedTest(name = "{0} keys {1} d' {2}", autoCloseArguments = false)
    @MethodSource("cases")
    void theDeviceStoresTheBytesTheCpuStores(OpenClKernels k, KeyPrecision precision, int dim) {
        int groups = 3, first = 5, n = 70, end = first + n;
        float[] keys = keys(new Random(dim * 31L + precision.ordinal()), n, groups * dim, dim, precision);
        BlockedVectorStore cpu = BlockedVectorStore.create(precision, groups, dim, 256);
        BlockedVectorStore device = BlockedVectorStore.create(precision, groups, dim, 256);
        cpu.ensureCapacity(end);
        device.ensureCapacity(end);
        for (int t = 0; t < n; t++) for (int g = 0; g < groups; g++) cpu.put(g, first + t, keys, t * groups * dim + g * dim);
        SingleKernelRuns.quantize(k, keys, n, first, device);
        for (int g = 0; g < groups; g++) {
            String what = k.name() + " " + precision + " d' " + dim + " group " + g;
            switch (cpu) {
                case BlockedVectorStore.F32 f -> assertArrayEquals(f.array(g), ((BlockedVectorStore.F32) device).array(g), what);
                case BlockedVectorStore.F16 h -> assertArrayEquals(h.array(g), ((BlockedVectorStore.F16) device).array(g), what);
                case BlockedVectorStore.Scaled q -> {
                    BlockedVectorStore.Scaled d = (BlockedVectorStore.Scaled) device;
                    assertArrayEquals(q.array(g), d.array(g), what + ": values");
                    // Compared as bits: a scale off by one ulp is a different scale.
                    for (int t = 0; t < end; t++) {
                        if (Float.floatToRawIntBits(q.scales(g)[t]) != Float.floatToRawIntBits(d.scales(g)[t])) {
                            throw new AssertionError(what + ": scale of position " + t + " is " + d.scales(g)[t] + ", the CPU's " + q.scales(g)[t]);
                        }
                    }
                }
            }
        }
    }

    /** n rows of width floats, vectors of dim values; the awkward cases of the class comment come first. */
    static float[] keys(Random r, int n, int width, int dim, KeyPrecision precision) {
        float[] x = new float[n * width];
        float top = precision == KeyPrecision.Q4 ? 7f : 127f;
        int vectors = x.length / dim;
        for (int v = 0; v < vectors; v++) {
            int off = v * dim;
            switch (v % 8) {
                case 0 -> {
                    // Exact halves after scaling: absmax is `top`, so the scale factor is exactly 1.
                    x[off] = top;
                    for (int j = 1; j < dim; j++) x[off + j] = (r.nextInt((int) top) + 0.5f) * (r.nextBoolean() ? 1 : -1);
                }
                case 1 -> {
                    x[off] = -top;
                    for (int j = 1; j < dim; j++) x[off + j] = j % 2 == 0 ? 0.49999997f : -0.49999997f;
                }
                case 2 -> { } // all zeros: scale 0
                case 3 -> {
                    if (precision == KeyPrecision.F16) {
                        float[] edge = {70000f, -1e9f, 65504f, 65519.996f, 65520f, 6.1e-5f, 3e-8f, -5.96e-8f, 2.98e-8f, 1.0009766f, 1.00048828125f};
                        for (int j = 0; j < dim; j++) x[off + j] = edge[(j + v) % edge.length];
                    } else {
                        for (int j = 0; j < dim; j++) x[off + j] = (float) (r.nextGaussian() * 1e-20);
                    }
                }
                default -> {
                    double scale = Math.pow(10, r.nextInt(7) - 3);
                    for (int j = 0; j < dim; j++) x[off + j] = (float) (r.nextGaussian() * scale);
                }
            }
        }
        return x;
    }
}
