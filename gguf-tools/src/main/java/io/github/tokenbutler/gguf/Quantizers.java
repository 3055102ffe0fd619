package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.FloatTensor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;

import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Set;

/**
 * Float rows to GGML blocks and back, in the byte layouts of ggml-common.h (all little-endian, ggml_half = IEEE f16):
 * <pre>
 * block_q8_0 (34 bytes / 32 values): ggml_half d; int8 qs[32];             x = d * qs[j]
 * block_q4_0 (18 bytes / 32 values): ggml_half d; uint8 qs[16];            x[j] = d * ((qs[j] &amp; 0xF) - 8),
 *                                                                           x[j+16] = d * ((qs[j] &gt;&gt; 4) - 8)
 * block_q4_1 (20 bytes / 32 values): ggml_half d; ggml_half m; uint8 qs[16]; x[j] = d * (qs[j] &amp; 0xF) + m,
 *                                                                           x[j+16] = d * (qs[j] &gt;&gt; 4) + m
 * block_q4_K (144 bytes / 256 values): ggml_half d; ggml_half dmin; uint8 scales[12]; uint8 qs[128];
 *     8 sub-blocks of 32 with 6-bit scale sc[j] and min m[j] packed in scales[12] (get_scale_min_k4):
 *       j &lt; 4: sc = scales[j] &amp; 63, m = scales[j+4] &amp; 63;
 *       j &gt;= 4: sc = (scales[j+4] &amp; 0xF) | (scales[j-4] &gt;&gt; 6) &lt;&lt; 4, m = (scales[j+4] &gt;&gt; 4) | (scales[j] &gt;&gt; 6) &lt;&lt; 4
 *     x = d * sc * q - dmin * m; for g in 0..3, l in 0..31: qs[32g+l] holds element 64g+l (low nibble) and 64g+32+l (high)
 * block_q5_K (176 bytes / 256 values): ggml_half d; ggml_half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128];
 *     as Q4_K with a fifth bit: element 64g+l has bit 2g of qh[l] as its bit 4, element 64g+32+l bit 2g+1
 * block_q6_K (210 bytes / 256 values): uint8 ql[128]; uint8 qh[64]; int8 scales[16]; ggml_half d;
 *     per half of 128 values (ql += 64, qh += 32, scales += 8 after each), for l in 0..31:
 *       q[l]    = (ql[l]    &amp; 0xF) | ((qh[l] &gt;&gt; 0 &amp; 3) &lt;&lt; 4)     x = d * scales[l/16 + 0] * (q - 32)
 *       q[l+32] = (ql[l+32] &amp; 0xF) | ((qh[l] &gt;&gt; 2 &amp; 3) &lt;&lt; 4)     x = d * scales[l/16 + 2] * (q - 32)
 *       q[l+64] = (ql[l]    &gt;&gt; 4)  | ((qh[l] &gt;&gt; 4 &amp; 3) &lt;&lt; 4)     x = d * scales[l/16 + 4] * (q - 32)
 *       q[l+96] = (ql[l+32] &gt;&gt; 4)  | ((qh[l] &gt;&gt; 6 &amp; 3) &lt;&lt; 4)     x = d * scales[l/16 + 6] * (q - 32)
 * </pre>
 * Q8_0 and Q4_0 follow ggml's reference quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref) exactly.
 * Q6_K uses the same layout and per-16 scales as quantize_row_q6_K_ref but picks each sub-block scale the
 * simple way (the value of largest magnitude maps to -32) instead of ggml's iterative error search, so its
 * bytes can differ from llama.cpp's by a quant step while decoding identically.
 * Q4_1 follows quantize_row_q4_1_ref (d = (max - min) / 15, m = min, q = min(15, trunc((x - min) / d + 0.5))).
 *
 * <p>Q4_K and Q5_K fit each sub-block of 32 on its own, then quantize the fits against the super-block
 * ({@link #fitAffine}): first x ~ s * q + o with o = min(0, min x) and s = (max x - o) / nmax (the min/max fit),
 * then a few rounds that alternate re-assigning q = clamp(round((x - o) / s)) with the least-squares (s, o) for
 * those q (o kept at or below 0, as ggml's stored mins are non-negative), keeping the fit of least squared error.
 * The eight scales s and offsets -o then become 6-bit integers against the super-block's d = max s / 63 and
 * dmin = max(-o) / 63, and the levels are assigned once more against the scales as they will be decoded.
 * This is not ggml's search (make_qkx2_quants), so bytes differ from llama.cpp's while the layout is the same.
 */
public final class Quantizers {
    private Quantizers() {}

    /** Types {@link #quantize} can produce. */
    public static final Set<GGMLType> WRITABLE = EnumSet.of(GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0, GGMLType.Q4_0,
            GGMLType.Q4_1, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K);
    /** Types {@link #dequantize} can read: every type the runtime computes with. */
    public static final Set<GGMLType> READABLE = EnumSet.copyOf(FloatTensor.SUPPORTED);

    /** Encodes n floats (a multiple of the type's block size) into a new array. */
    public static byte[] quantize(GGMLType type, float[] src, int srcOff, int n) {
        byte[] out = new byte[Math.toIntExact(type.byteSize(checkCount(type, n)))];
        quantize(type, src, srcOff, n, out, 0);
        return out;
    }

    /** Encodes n floats (a multiple of the type's block size) into dst at dstOff; returns the bytes written. */
    public static int quantize(GGMLType type, float[] src, int srcOff, int n, byte[] dst, int dstOff) {
        checkCount(type, n);
        int blocks = n / type.blockSize;
        for (int b = 0; b < blocks; b++) {
            int s = srcOff + b * type.blockSize, d = dstOff + b * type.typeSize;
            switch (type) {
                case F32 -> putInt(dst, d, Float.floatToRawIntBits(src[s]));
                case F16 -> putShort(dst, d, Float.floatToFloat16(src[s]));
                case BF16 -> putShort(dst, d, toBf16(src[s]));
                case Q8_0 -> quantizeQ8_0(src, s, dst, d);
                case Q4_0 -> quantizeQ4_0(src, s, dst, d);
                case Q4_1 -> quantizeQ4_1(src, s, dst, d);
                case Q4_K -> quantizeQ4_K(src, s, dst, d);
                case Q5_K -> quantizeQ5_K(src, s, dst, d);
                case Q6_K -> quantizeQ6_K(src, s, dst, d);
                default -> throw new IllegalArgumentException("cannot quantize to " + type + " (supported: " + WRITABLE + ")");
            }
        }
        return blocks * type.typeSize;
    }

    /**
     * Decodes n values (a multiple of the block size) starting at byte srcByteOff of src, with the runtime's own
     * decoder ({@code Llama3.FloatTensor}): what the model will compute with, not a second copy of each layout.
     */
    public static void dequantize(GGMLType type, MemorySegment src, long srcByteOff, int n, float[] dst, int dstOff) {
        checkCount(type, n);
        if (!READABLE.contains(type)) throw new IllegalArgumentException("cannot decode " + type + " (supported: " + READABLE + ")");
        TensorInfo row = new TensorInfo("row", type, new long[] {n}, 0);
        FloatTensor.of(row, src.asSlice(srcByteOff, type.byteSize(n))).dequantize(0, dst, dstOff, n);
    }

    /** Decodes from a byte array (tests). */
    public static float[] dequantize(GGMLType type, byte[] src, int n) {
        float[] out = new float[n];
        dequantize(type, MemorySegment.ofArray(src), 0, n, out, 0);
        return out;
    }

    private static int checkCount(GGMLType type, int n) {
        if (n < 0 || n % type.blockSize != 0) {
            throw new IllegalArgumentException(type + " works on whole blocks of " + type.blockSize + " values, got " + n);
        }
        return n;
    }

    // --- Q8_0: d = amax / 127, q = round(x / d), rounding half away from zero like C's roundf --------------

    private static void quantizeQ8_0(float[] x, int s, byte[] y, int o) {
        float amax = 0f;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[s + j]));
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        putShort(y, o, Float.floatToFloat16(d));
        for (int j = 0; j < 32; j++) y[o + 2 + j] = (byte) roundHalfAwayFromZero(x[s + j] * id);
    }

    // --- Q4_0: d = max / -8 where max keeps its sign, so the largest magnitude lands exactly on -8;
    //     q = min(15, trunc(x / d + 8.5)) --------------------------------------------------------------------

    private static void quantizeQ4_0(float[] x, int s, byte[] y, int o) {
        float max = signedMaxMagnitude(x, s, 32);
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        putShort(y, o, Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, (int) (x[s + j] * id + 8.5f));
            int hi = Math.min(15, (int) (x[s + j + 16] * id + 8.5f));
            y[o + 2 + j] = (byte) (lo | (hi << 4));
        }
    }

    // --- Q4_1 -------------------------------------------------------------------------------------------

    private static void quantizeQ4_1(float[] x, int s, byte[] y, int o) {
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            min = Math.min(min, x[s + j]);
            max = Math.max(max, x[s + j]);
        }
        float d = (max - min) / 15f;
        float id = d != 0f ? 1f / d : 0f;
        putShort(y, o, Float.floatToFloat16(d));
        putShort(y, o + 2, Float.floatToFloat16(min));
        for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, (int) ((x[s + j] - min) * id + 0.5f));
            int hi = Math.min(15, (int) ((x[s + j + 16] - min) * id + 0.5f));
            y[o + 4 + j] = (byte) (lo | (hi << 4));
        }
    }

    // --- Q4_K / Q5_K ------------------------------------------------------------------------------------

    /** Rounds of re-assignment and least squares after the min/max fit; more changed the error by under 1%. */
    private static final int FIT_ROUNDS = 4;

    /**
     * Fits x[s..s+n) ~ scale * q - negOffset with integer q in [0, nmax], scale &gt;= 0 and negOffset &gt;= 0;
     * writes scale to fit[0] and negOffset to fit[1]. Alternating minimization: each step does not increase the
     * squared error, and the best fit seen is kept.
     */
    static void fitAffine(float[] x, int s, int n, int nmax, float[] fit) {
        float lo = 0f, hi = -Float.MAX_VALUE;
        for (int j = 0; j < n; j++) {
            lo = Math.min(lo, x[s + j]);
            hi = Math.max(hi, x[s + j]);
        }
        if (!(hi > lo)) { // all values equal and at or below 0: the offset alone represents them
            fit[0] = 0f;
            fit[1] = -lo;
            return;
        }
        float scale = (hi - lo) / nmax, offset = lo;
        float bestScale = scale, bestOffset = offset;
        double bestError = affineError(x, s, n, nmax, scale, offset);
        for (int round = 0; round < FIT_ROUNDS; round++) {
            // Least squares of x = scale * q + offset over the current levels: the 2x2 normal equations.
            double sq = 0, sqq = 0, sx = 0, sqx = 0;
            float inv = 1f / scale;
            for (int j = 0; j < n; j++) {
                int q = clamp(Math.round((x[s + j] - offset) * inv), 0, nmax);
                sq += q;
                sqq += (double) q * q;
                sx += x[s + j];
                sqx += (double) q * x[s + j];
            }
            double det = n * sqq - sq * sq;
            if (det <= 0) break; // every value on one level: nothing to fit
            double newScale = (n * sqx - sq * sx) / det, newOffset = (sx - newScale * sq) / n;
            if (newOffset > 0) { // the constraint binds: the best fit with offset 0
                newOffset = 0;
                newScale = sqx / sqq;
            }
            if (!(newScale > 0)) break;
            scale = (float) newScale;
            offset = (float) newOffset;
            double error = affineError(x, s, n, nmax, scale, offset);
            if (error < bestError) {
                bestError = error;
                bestScale = scale;
                bestOffset = offset;
            }
        }
        fit[0] = bestScale;
        fit[1] = -bestOffset;
    }

    private static double affineError(float[] x, int s, int n, int nmax, float scale, float offset) {
        double e = 0;
        float inv = 1f / scale;
        for (int j = 0; j < n; j++) {
            int q = clamp(Math.round((x[s + j] - offset) * inv), 0, nmax);
            double r = scale * q + offset - x[s + j];
            e += r * r;
        }
        return e;
    }

    /**
     * The shared first half of Q4_K and Q5_K: per sub-block fits, their 6-bit codes, d and dmin written at
     * y[o..o+16), and the levels (0..nmax) of the 256 values in {@code levels}.
     */
    private static void quantizeKSuperBlock(float[] x, int s, int nmax, byte[] y, int o, int[] levels) {
        float[] scale = new float[8], negOffset = new float[8], fit = new float[2];
        float maxScale = 0f, maxMin = 0f;
        for (int j = 0; j < 8; j++) {
            fitAffine(x, s + 32 * j, 32, nmax, fit);
            scale[j] = fit[0];
            negOffset[j] = fit[1];
            maxScale = Math.max(maxScale, scale[j]);
            maxMin = Math.max(maxMin, negOffset[j]);
        }
        short dHalf = Float.floatToFloat16(maxScale / 63f), dminHalf = Float.floatToFloat16(maxMin / 63f);
        float d = Float.float16ToFloat(dHalf), dmin = Float.float16ToFloat(dminHalf);
        int[] ls = new int[8], lm = new int[8];
        for (int j = 0; j < 8; j++) {
            ls[j] = d > 0f ? clamp(Math.round(scale[j] / d), 0, 63) : 0;
            lm[j] = dmin > 0f ? clamp(Math.round(negOffset[j] / dmin), 0, 63) : 0;
        }
        putShort(y, o, dHalf);
        putShort(y, o + 2, dminHalf);
        byte[] packed = new byte[12];
        for (int j = 0; j < 4; j++) {
            packed[j] = (byte) ls[j];
            packed[j + 4] = (byte) lm[j];
        }
        for (int j = 4; j < 8; j++) {
            packed[j + 4] = (byte) ((ls[j] & 15) | ((lm[j] & 15) << 4));
            packed[j - 4] |= (byte) ((ls[j] >> 4) << 6);
            packed[j] |= (byte) ((lm[j] >> 4) << 6);
        }
        System.arraycopy(packed, 0, y, o + 4, 12);
        // Levels against the scale and min exactly as the decoder will compute them.
        for (int j = 0; j < 8; j++) {
            float step = d * ls[j], m = dmin * lm[j];
            for (int l = 0; l < 32; l++) {
                int i = 32 * j + l;
                levels[i] = step > 0f ? clamp(Math.round((x[s + i] + m) / step), 0, nmax) : 0;
            }
        }
    }

    private static void quantizeQ4_K(float[] x, int s, byte[] y, int o) {
        int[] q = new int[256];
        quantizeKSuperBlock(x, s, 15, y, o, q);
        for (int g = 0; g < 4; g++) {
            for (int l = 0; l < 32; l++) y[o + 16 + 32 * g + l] = (byte) (q[64 * g + l] | (q[64 * g + 32 + l] << 4));
        }
    }

    private static void quantizeQ5_K(float[] x, int s, byte[] y, int o) {
        int[] q = new int[256];
        quantizeKSuperBlock(x, s, 31, y, o, q);
        int qh = o + 16, qs = o + 48;
        java.util.Arrays.fill(y, qh, qh + 32, (byte) 0);
        for (int g = 0; g < 4; g++) {
            for (int l = 0; l < 32; l++) {
                int a = q[64 * g + l], b = q[64 * g + 32 + l];
                y[qs + 32 * g + l] = (byte) ((a & 15) | ((b & 15) << 4));
                y[qh + l] |= (byte) (((a >> 4) << (2 * g)) | ((b >> 4) << (2 * g + 1)));
            }
        }
    }

    private static int clamp(int v, int lo, int hi) { return Math.max(lo, Math.min(hi, v)); }

    // --- Q6_K --------------------------------------------------------------------------------------------

    private static void quantizeQ6_K(float[] x, int s, byte[] y, int o) {
        float[] subScales = new float[16];
        for (int ib = 0; ib < 16; ib++) subScales[ib] = signedMaxMagnitude(x, s + 16 * ib, 16) / -32f;
        float maxScale = signedMaxMagnitude(subScales, 0, 16);
        int[] levels = new int[256];
        byte[] scales = new byte[16];
        short dHalf = 0;
        if (maxScale == 0f) {
            java.util.Arrays.fill(levels, 32); // level 32 decodes to 0
        } else {
            // The sub-block scale of largest magnitude becomes -128, the others proportionally (clamped at 127
            // only for opposite-sign scales, whose magnitude is at most that of the largest).
            float iscale = -128f / maxScale;
            dHalf = Float.floatToFloat16(1f / iscale);
            float d = Float.float16ToFloat(dHalf);
            for (int ib = 0; ib < 16; ib++) {
                int sc = Math.min(127, (int) Math.rint(iscale * subScales[ib]));
                scales[ib] = (byte) sc;
                float step = d * sc;
                for (int j = 0; j < 16; j++) {
                    int l = step == 0f ? 0 : (int) Math.rint(x[s + 16 * ib + j] / step);
                    levels[16 * ib + j] = Math.max(-32, Math.min(31, l)) + 32;
                }
            }
        }
        int ql = o, qh = o + 128;
        for (int half = 0; half < 2; half++) {
            int base = 128 * half;
            for (int l = 0; l < 32; l++) {
                int q1 = levels[base + l], q2 = levels[base + l + 32], q3 = levels[base + l + 64], q4 = levels[base + l + 96];
                y[ql + l] = (byte) ((q1 & 0xF) | ((q3 & 0xF) << 4));
                y[ql + l + 32] = (byte) ((q2 & 0xF) | ((q4 & 0xF) << 4));
                y[qh + l] = (byte) ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
        System.arraycopy(scales, 0, y, o + 192, 16);
        putShort(y, o + 208, dHalf);
    }

    // --- helpers -----------------------------------------------------------------------------------------

    /** The value of largest magnitude, sign kept (the first one on ties, as ggml's loops do). */
    static float signedMaxMagnitude(float[] x, int s, int n) {
        float amax = 0f, max = 0f;
        for (int j = 0; j < n; j++) {
            float v = x[s + j];
            if (Math.abs(v) > amax) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max;
    }

    /** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
    static int roundHalfAwayFromZero(float v) {
        int r = Math.round(Math.abs(v));
        return v < 0 ? -r : r;
    }

    /** float to bfloat16 with round-to-nearest-even (NaN kept a quiet NaN), as ggml_compute_fp32_to_bf16. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 64);
        return (short) ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16);
    }

    private static void putShort(byte[] b, int o, short v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
    }

    private static void putInt(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
        b[o + 2] = (byte) (v >> 16);
        b[o + 3] = (byte) (v >> 24);
    }
}
