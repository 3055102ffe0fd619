package io.github.tokenbutler.butlerfile;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Simple (not error-optimal) quantizers for the block types gguf-tools does not write, following the block
 * layouts of ggml-common.h: block_q4_1 {half d, half m, u8 qs[16]}, block_q4_K {half d, half dmin,
 * u8 scales[12], u8 qs[128]} and block_q5_K {half d, half dmin, u8 scales[12], u8 qh[32], u8 qs[128]}. They give
 * the fingerprint's decoders real blocks to read back.
 */
final class ReferenceQuantizers {
    private ReferenceQuantizers() {}

    private static float f16(float v) { return Float.float16ToFloat(Float.floatToFloat16(v)); }

    /** Q4_1: per 32 values x = d * q + m, q in 0..15; byte j holds q[j] (low nibble) and q[j+16] (high). */
    static byte[] q4_1(float[] x) {
        ByteBuffer b = ByteBuffer.allocate(x.length / 32 * 20).order(ByteOrder.LITTLE_ENDIAN);
        for (int o = 0; o < x.length; o += 32) {
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int i = 0; i < 32; i++) { min = Math.min(min, x[o + i]); max = Math.max(max, x[o + i]); }
            float d = f16((max - min) / 15), m = f16(min);
            b.putShort(Float.floatToFloat16(d)).putShort(Float.floatToFloat16(m));
            for (int j = 0; j < 16; j++) {
                int lo = quant(x[o + j], d, m, 15), hi = quant(x[o + j + 16], d, m, 15);
                b.put((byte) (lo | hi << 4));
            }
        }
        return b.array();
    }

    private static int quant(float x, float d, float m, int max) {
        return d == 0 ? 0 : Math.max(0, Math.min(max, Math.round((x - m) / d)));
    }

    /** Q4_K with 4-bit values (bits 4) or Q5_K (bits 5). */
    static byte[] q4_k(float[] x) { return kQuant(x, 4); }

    static byte[] q5_k(float[] x) { return kQuant(x, 5); }

    /**
     * 256 values in 8 sub-blocks of 32: x = d*sc[j]*q - dmin*mn[j] with 6-bit sc, mn. Scales packed as ggml's
     * get_scale_min_k4 unpacks them: for j < 4, bytes j and j+4 hold sc[j] and mn[j] in their low 6 bits and the
     * top 2 bits of sc[j+4] and mn[j+4] in their high 2 bits; byte j+8 holds the low 4 bits of sc[j+4] and mn[j+4].
     */
    private static byte[] kQuant(float[] x, int bits) {
        int levels = (1 << bits) - 1, blockBytes = bits == 4 ? 144 : 176;
        ByteBuffer b = ByteBuffer.allocate(x.length / 256 * blockBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int o = 0; o < x.length; o += 256) {
            float[] scale = new float[8], mins = new float[8];
            for (int j = 0; j < 8; j++) {
                float min = 0, max = 0;
                for (int i = 0; i < 32; i++) { min = Math.min(min, x[o + 32 * j + i]); max = Math.max(max, x[o + 32 * j + i]); }
                scale[j] = (max - min) / levels;
                mins[j] = -min;
            }
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++) { maxScale = Math.max(maxScale, scale[j]); maxMin = Math.max(maxMin, mins[j]); }
            float d = f16(maxScale / 63), dmin = f16(maxMin / 63);
            int[] sc = new int[8], mn = new int[8];
            for (int j = 0; j < 8; j++) {
                sc[j] = d == 0 ? 0 : Math.min(63, Math.round(scale[j] / d));
                mn[j] = dmin == 0 ? 0 : Math.min(63, Math.round(mins[j] / dmin));
            }
            int[] q = new int[256];
            for (int j = 0; j < 8; j++) {
                float step = d * sc[j], offset = -dmin * mn[j];
                for (int i = 0; i < 32; i++) q[32 * j + i] = quant(x[o + 32 * j + i], step, offset, levels);
            }
            b.putShort(Float.floatToFloat16(d)).putShort(Float.floatToFloat16(dmin));
            byte[] packed = new byte[12];
            for (int j = 0; j < 4; j++) {
                packed[j] = (byte) (sc[j] | (sc[j + 4] >> 4) << 6);
                packed[j + 4] = (byte) (mn[j] | (mn[j + 4] >> 4) << 6);
                packed[j + 8] = (byte) ((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4);
            }
            b.put(packed);
            if (bits == 5) {
                byte[] qh = new byte[32];
                for (int c = 0; c < 4; c++) {
                    for (int l = 0; l < 32; l++) {
                        qh[l] |= (byte) (((q[64 * c + l] >> 4) & 1) << (2 * c) | ((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1));
                    }
                }
                b.put(qh);
            }
            for (int c = 0; c < 4; c++) {
                for (int l = 0; l < 32; l++) b.put((byte) ((q[64 * c + l] & 0xF) | (q[64 * c + 32 + l] & 0xF) << 4));
            }
        }
        return b.array();
    }
}
