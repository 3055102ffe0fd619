package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Expected bytes are worked out by hand from the block layouts and reference formulas of ggml-common.h /
 * ggml-quants.c (quantize_row_q8_0_ref, quantize_row_q4_0_ref, quantize_row_q4_1_ref, block_q4_K, block_q5_K,
 * block_q6_K), as written in each test. Decoding is the runtime's own (Llama3.FloatTensor), so a layout test that
 * round-trips exactly shows the writer and the runtime agree on every bit.
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
    void q4_1GoldenBlock() {
        // x = -16..15: m = min = -16, d = (15 - -16) / 15 = 31/15, q = min(15, trunc((x + 16) * 15/31 + 0.5)).
        float[] x = ramp(32, -16);
        byte[] q = Quantizers.quantize(GGMLType.Q4_1, x, 0, 32);
        assertEquals(20, q.length);
        assertEquals(Float.floatToFloat16(31f / 15f) & 0xFFFF, f16(q, 0), "d");
        assertEquals(Float.floatToFloat16(-16f) & 0xFFFF, f16(q, 2), "m");
        assertEquals(0x80, q[4] & 0xFF);          // x[0] = -16 -> 0; x[16] = 0 -> trunc(7.74 + 0.5) = 8
        assertEquals(0xF7, q[4 + 15] & 0xFF);     // x[15] = -1 -> trunc(7.26 + 0.5) = 7; x[31] = 15 -> 15
        float[] back = Quantizers.dequantize(GGMLType.Q4_1, q, 32);
        for (int i = 0; i < 32; i++) assertEquals(x[i], back[i], 31f / 15f / 2 + 1e-2f, "x[" + i + "]");
    }

    /**
     * Eight sub-blocks of 32, sub-block j exactly on the grid d * k[j] * q - dmin * m[j] with q running over every
     * level (so the min/max fit is exact): with d = 2^-6 and dmin = 2^-7 (max k = max m = 63, so d = max scale / 63
     * and dmin = max min / 63 are exact in f16), the 6-bit codes are k[j] and m[j] themselves. Sub-blocks 4..7 have
     * codes of 16 and more, whose top two bits go to the top of bytes j-4 (scale) and j (min) of scales[12].
     */
    private static final int[] K_SCALES = {63, 1, 17, 32, 48, 5, 60, 33}, K_MINS = {0, 63, 2, 40, 16, 31, 7, 50};

    private static float[] kGrid(int nmax) {
        float d = 0x1p-6f, dmin = 0x1p-7f;
        float[] x = new float[256];
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 32; l++) x[32 * j + l] = (d * K_SCALES[j]) * (l % (nmax + 1)) - dmin * K_MINS[j];
        }
        return x;
    }

    private static void assertKScales(byte[] q) {
        assertEquals(Float.floatToFloat16(0x1p-6f) & 0xFFFF, f16(q, 0), "d");
        assertEquals(Float.floatToFloat16(0x1p-7f) & 0xFFFF, f16(q, 2), "dmin");
        for (int j = 0; j < 4; j++) {
            assertEquals(K_SCALES[j], q[4 + j] & 63, "scale " + j);
            assertEquals(K_MINS[j], q[4 + j + 4] & 63, "min " + j);
            assertEquals(K_SCALES[j + 4] >> 4, (q[4 + j] & 0xFF) >> 6, "scale " + (j + 4) + " high bits");
            assertEquals(K_MINS[j + 4] >> 4, (q[4 + j + 4] & 0xFF) >> 6, "min " + (j + 4) + " high bits");
            assertEquals((K_SCALES[j + 4] & 15) | (K_MINS[j + 4] & 15) << 4, q[4 + j + 8] & 0xFF, "low bits of scale and min " + (j + 4));
        }
    }

    @Test
    void q4_KGoldenLayout() {
        float[] x = kGrid(15);
        byte[] q = Quantizers.quantize(GGMLType.Q4_K, x, 0, 256);
        assertEquals(144, q.length);
        assertKScales(q);
        // qs[32g + l]: element 64g + l in the low nibble, 64g + 32 + l in the high one; both have level l % 16.
        assertEquals(0x00, q[16] & 0xFF);
        assertEquals(0x77, q[16 + 7] & 0xFF);
        assertEquals(0xFF, q[16 + 32 * 3 + 31] & 0xFF);
        assertArrayEquals(x, Quantizers.dequantize(GGMLType.Q4_K, q, 256));
    }

    @Test
    void q5_KGoldenLayout() {
        float[] x = kGrid(31);
        byte[] q = Quantizers.quantize(GGMLType.Q5_K, x, 0, 256);
        assertEquals(176, q.length);
        assertKScales(q);
        // Levels are l (0..31) in every sub-block: qh[l] has bit 4 of the level for all 8 sub-blocks.
        assertEquals(0x00, q[16 + 15] & 0xFF);
        assertEquals(0xFF, q[16 + 16] & 0xFF);
        assertEquals(0x55, q[48 + 5] & 0xFF);                 // qs[5]: level 5 low nibble, level 5 high nibble
        assertEquals(0xEE, q[48 + 32 * 2 + 30] & 0xFF);       // level 30 = 16 + 14 in both halves
        assertArrayEquals(x, Quantizers.dequantize(GGMLType.Q5_K, q, 256));
    }

    @Test
    void kQuantsKeepConstantAndOneSignedSubBlocks() {
        // A sub-block of one negative constant is all offset (scale 0); all-positive ones keep offset 0 (the stored
        // mins are non-negative); a zero sub-block stays zero.
        float[] x = new float[256];
        java.util.Arrays.fill(x, 0, 32, -0.3f);
        java.util.Arrays.fill(x, 32, 64, 0.25f);
        for (int i = 64; i < 96; i++) x[i] = 0.01f * (i - 60);
        for (int i = 128; i < 160; i++) x[i] = -0.02f * (i - 120);
        for (GGMLType t : new GGMLType[] {GGMLType.Q4_K, GGMLType.Q5_K}) {
            float[] back = Quantizers.dequantize(t, Quantizers.quantize(t, x, 0, 256), 256);
            // Steps are at most max scale / 15 (Q4_K), with 6-bit scale codes on top: 0.02 is a few of them.
            for (int i = 0; i < 256; i++) assertEquals(x[i], back[i], 0.02f, t + " x[" + i + "]");
            for (int i = 96; i < 128; i++) assertEquals(0f, back[i], 0f, t + " zero sub-block x[" + i + "]");
        }
    }

    @Test
    void zeroBlocksDecodeToZero() {
        for (GGMLType t : new GGMLType[] {GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K}) {
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
        assertRoundTrip(GGMLType.Q4_1, x, 0.12 * 0.05);
        assertRoundTrip(GGMLType.Q4_K, x, 0.12 * 0.05);
        assertRoundTrip(GGMLType.Q5_K, x, 0.06 * 0.05);
    }

    /**
     * The K-quant bounds the task set (relative RMS error = RMS(x - decoded) / RMS(x)), on rows of Gaussian values
     * of several scales and on heavy-tailed rows (Student-t-like: Gaussian / sqrt of a chi-square). Measured on
     * this generator: Q4_K 0.073 Gaussian / 0.088 heavy-tailed (0.079 / 0.094 with the min/max fit alone), Q5_K 0.037 / 0.045,
     * Q6_K 0.019 / 0.023 (printed).
     */
    @Test
    void kQuantRelativeErrorStaysWithinBounds() {
        SplittableRandom r = new SplittableRandom(7);
        float[] gauss = new float[256 * 64], heavy = new float[256 * 64];
        for (int i = 0; i < gauss.length; i++) {
            double scale = 0.01 * (1 + i / 256 % 8);  // rows of different magnitudes, as in a weight matrix
            gauss[i] = (float) (r.nextGaussian() * scale);
            double chi = 0;
            for (int k = 0; k < 4; k++) {
                double z = r.nextGaussian();
                chi += z * z;
            }
            heavy[i] = (float) (r.nextGaussian() * scale / Math.sqrt(chi / 4 + 1e-3));
        }
        GGMLType[] types = {GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K};
        double[] bounds = {0.1, 0.05, 0.025};
        for (int k = 0; k < types.length; k++) {
            double g = relativeRms(types[k], gauss), h = relativeRms(types[k], heavy);
            System.out.printf(java.util.Locale.ROOT, "%s relative RMS error: Gaussian %.4f, heavy-tailed %.4f (bound %.3f)%n", types[k], g, h, bounds[k]);
            assertTrue(g < bounds[k], types[k] + " Gaussian: " + g);
            assertTrue(h < bounds[k], types[k] + " heavy-tailed: " + h);
        }
    }

    private static double relativeRms(GGMLType t, float[] x) {
        float[] back = Quantizers.dequantize(t, Quantizers.quantize(t, x, 0, x.length), x.length);
        double se = 0, ss = 0;
        for (int i = 0; i < x.length; i++) {
            se += (x[i] - back[i]) * (double) (x[i] - back[i]);
            ss += x[i] * (double) x[i];
        }
        return Math.sqrt(se / ss);
    }

    @Test
    void fittingTheSubBlocksBeatsTheirMinAndMax() {
        // The refinement rounds keep the best fit seen, the min/max fit included: never worse, and on Gaussian data
        // better (least squares moves the scale inward from the outliers).
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[32];
        double minMax = 0, fitted = 0;
        float[] fit = new float[2];
        for (int trial = 0; trial < 200; trial++) {
            float lo = 0, hi = -Float.MAX_VALUE;
            for (int i = 0; i < 32; i++) {
                x[i] = (float) r.nextGaussian();
                lo = Math.min(lo, x[i]);
                hi = Math.max(hi, x[i]);
            }
            Quantizers.fitAffine(x, 0, 32, 15, fit);
            double a = subBlockError(x, (hi - lo) / 15, -lo), b = subBlockError(x, fit[0], fit[1]);
            assertTrue(b <= a * (1 + 1e-6), "trial " + trial + ": fitted " + b + " > min/max " + a);
            minMax += a;
            fitted += b;
        }
        assertTrue(fitted < 0.95 * minMax, "fitted " + fitted + ", min/max " + minMax);
    }

    private static double subBlockError(float[] x, float scale, float negOffset) {
        double e = 0;
        for (float v : x) {
            int q = Math.max(0, Math.min(15, Math.round((v + negOffset) / scale)));
            double d = scale * q - negOffset - v;
            e += d * d;
        }
        return e;
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
