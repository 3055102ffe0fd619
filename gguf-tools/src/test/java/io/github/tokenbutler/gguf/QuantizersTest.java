package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Expected bytes are worked out by hand from the block layouts and reference formulas of ggml-common.h /
 * ggml-quants.c (quantize_row_q8_0_ref, quantize_row_q4_0_ref, block_q6_K), as written in each test.
 */
class QuantizersTest {

    private static float[] ramp(int n, float start) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = start + i;
        return x;
    }

    private static int f16(byte[] b, int o) { return (b[o] & 0xFF) | ((b[o + 1] & 0xFF) << 8); }

    @Test
    void q8_0GoldenBlock() {
        // x = -16..15: amax 16, d = 16/127, q = roundf(x * 127/16).
        float[] x = ramp(32, -16);
        byte[] q = Quantizers.quantize(GGMLType.Q8_0, x, 0, 32);
        assertEquals(34, q.length);
        assertEquals(Float.floatToFloat16(16f / 127f) & 0xFFFF, f16(q, 0), "d first, as f16");
        assertEquals(-127, q[2]);                 // x = -16
        assertEquals(0, q[2 + 16]);               // x = 0
        assertEquals(8, q[2 + 17]);               // x = 1: 7.9375 rounds to 8
        assertEquals(-48, q[2 + 10]);             // x = -6: -47.625 rounds to -48
        assertEquals(119, q[2 + 31]);             // x = 15: 119.0625
    }

    @Test
    void q8_0RoundsHalvesAwayFromZeroLikeRoundf() {
        // amax 127 makes d = 1 exactly, so q = roundf(x): -2.5 -> -3 (Math.round would give -2), 2.5 -> 3.
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = -2.5f;
        x[2] = 2.5f;
        byte[] q = Quantizers.quantize(GGMLType.Q8_0, x, 0, 32);
        assertEquals(-3, q[3]);
        assertEquals(3, q[4]);
    }

    @Test
    void q4_0GoldenBlock() {
        // x = -16..15: the largest magnitude is -16 (sign kept), d = -16 / -8 = 2, id = 0.5,
        // q = min(15, trunc(x/2 + 8.5)); byte j holds element j (low nibble) and element j+16 (high nibble).
        float[] x = ramp(32, -16);
        byte[] q = Quantizers.quantize(GGMLType.Q4_0, x, 0, 32);
        assertEquals(18, q.length);
        assertEquals(Float.floatToFloat16(2f) & 0xFFFF, f16(q, 0));
        assertEquals(0x80, q[2] & 0xFF);          // x[0] = -16 -> 0, x[16] = 0 -> 8
        assertEquals(0x91, q[3] & 0xFF);          // x[1] = -15 -> trunc(1.0) = 1, x[17] = 1 -> trunc(9.0) = 9
        assertEquals(0xF8, q[2 + 15] & 0xFF);     // x[15] = -1 -> trunc(8.0) = 8, x[31] = 15 -> 16, kept at 15
    }

    @Test
    void q4_0PositiveMaxGivesNegativeScale() {
        // The largest magnitude is +8: d = 8 / -8 = -1, so that value lands on q = 0 ((0 - 8) * -1 = 8).
        float[] x = new float[32];
        x[5] = 8f;
        x[6] = -3f;
        byte[] q = Quantizers.quantize(GGMLType.Q4_0, x, 0, 32);
        float[] back = Quantizers.dequantize(GGMLType.Q4_0, q, 32);
        assertEquals(Float.floatToFloat16(-1f) & 0xFFFF, f16(q, 0));
        assertEquals(0, q[2 + 5] & 0xF);
        assertEquals(8f, back[5]);
        assertEquals(-3f, back[6]);
        assertEquals(0f, back[0], 0f);
    }

    @Test
    void q6_KGoldenLayout() {
        // Every sub-block of 16 holds -32 (its largest magnitude) so each sub-block scale is 1; the largest
        // scale maps to int8 -128, d = 1 / -128 (exact in f16), and d * scale = 1: levels are x + 32 exactly.
        float[] x = new float[256];
        for (int ib = 0; ib < 16; ib++) x[16 * ib] = -32f;
        x[70] = 31f;    // first half, l = 6, third group: low nibble in ql[6] >> 4, high bits in qh[6] bits 4..5
        x[33] = 5f;     // first half, l = 1, second group: ql[33] & 0xF, qh[1] bits 2..3
        x[128 + 96 + 3] = -1f; // second half, l = 3, fourth group: ql[64 + 35] >> 4, qh[32 + 3] bits 6..7
        byte[] q = Quantizers.quantize(GGMLType.Q6_K, x, 0, 256);
        assertEquals(210, q.length);
        assertEquals(Float.floatToFloat16(-1f / 128f) & 0xFFFF, f16(q, 208), "d is the last two bytes");
        for (int ib = 0; ib < 16; ib++) assertEquals(-128, q[192 + ib], "scales[" + ib + "]");
        int level70 = 31 + 32, level33 = 5 + 32, level227 = -1 + 32;
        assertEquals(level70 & 0xF, (q[6] & 0xFF) >> 4);
        assertEquals(level70 >> 4, ((q[128 + 6] & 0xFF) >> 4) & 3);
        assertEquals(level33 & 0xF, q[33] & 0xF);
        assertEquals(level33 >> 4, ((q[128 + 1] & 0xFF) >> 2) & 3);
        assertEquals(level227 & 0xF, (q[64 + 35] & 0xFF) >> 4);
        assertEquals(level227 >> 4, ((q[128 + 32 + 3] & 0xFF) >> 6) & 3);
        assertArrayEquals(x, Quantizers.dequantize(GGMLType.Q6_K, q, 256));
    }

    @Test
    void zeroBlocksDecodeToZero() {
        for (GGMLType t : new GGMLType[] {GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q6_K}) {
            float[] back = Quantizers.dequantize(t, Quantizers.quantize(t, new float[256], 0, 256), 256);
            assertArrayEquals(new float[256], back, 0f, t.toString()); // -0.0 allowed: ggml's d = 0 / -8 is -0.0 too
        }
    }

    @Test
    void roundTripErrorIsWithinEachTypesStep() {
        SplittableRandom r = new SplittableRandom(42);
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 0.05);
        assertRoundTrip(GGMLType.F32, x, 0);
        assertRoundTrip(GGMLType.F16, x, 1e-3 * 0.05);
        assertRoundTrip(GGMLType.BF16, x, 8e-3 * 0.05);
        assertRoundTrip(GGMLType.Q8_0, x, 0.01 * 0.05);
        assertRoundTrip(GGMLType.Q6_K, x, 0.04 * 0.05);
        assertRoundTrip(GGMLType.Q4_0, x, 0.12 * 0.05);
    }

    /** Root-mean-square error relative to the signal, below the bound a uniform quantizer of that width gives. */
    private static void assertRoundTrip(GGMLType t, float[] x, double maxRmse) {
        float[] back = Quantizers.dequantize(t, Quantizers.quantize(t, x, 0, x.length), x.length);
        double se = 0;
        for (int i = 0; i < x.length; i++) se += (x[i] - back[i]) * (double) (x[i] - back[i]);
        double rmse = Math.sqrt(se / x.length);
        assertTrue(rmse <= maxRmse, t + ": rmse " + rmse + " > " + maxRmse);
    }

    @Test
    void partialBlocksAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quantizers.quantize(GGMLType.Q6_K, new float[128], 0, 128));
        assertTrue(e.getMessage().contains("blocks of 256"), e.getMessage());
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assertEquals((short) 0x3F80, Quantizers.toBf16(1f + 0x1p-8f));
        assertEquals((short) 0x3F81, Quantizers.toBf16(1f + 0x1p-8f + 0x1p-20f));
    }
}
