package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The KV cache's storage: what read and gather give back is what write was given, rounded as the type says
 * (f32 exact; f16 Float.floatToFloat16; q8_0 within half a step d = max|x|/127 of its block, d itself rounded
 * to f16), in the head-major layout, across growth steps.
 */
class KvRowsTest {
    static final int HEADS = 3, HEAD = 64, WIDTH = HEADS * HEAD;

    static float stored(KvType type, float x) {
        return switch (type) {
            case F32 -> x;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(x));
            case Q8_0 -> Float.NaN; // checked by tolerance
        };
    }

    @ParameterizedTest
    @EnumSource(KvType.class)
    void whatIsReadIsWhatWasWrittenAcrossGrowth(KvType type) {
        Random rnd = new Random(type.ordinal());
        KvRows rows = new KvRows(type, WIDTH, HEAD);
        int n = 150;
        float[] all = new float[n * WIDTH];
        for (int i = 0; i < all.length; i++) all[i] = (float) (rnd.nextGaussian() * 3);
        // written in three pieces, the cache growing in between (as the runtime grows it)
        int[] ends = {7, 70, n};
        int pos = 0;
        for (int end : ends) {
            rows.grow(end);
            rows.write(pos, all, pos * WIDTH, end - pos);
            pos = end;
        }
        assertEquals(n, rows.capacity());
        float[] row = new float[WIDTH], tile = new float[n * HEAD];
        for (int p = 0; p < n; p++) {
            rows.read(p, 0, WIDTH, row, 0);
            for (int e = 0; e < WIDTH; e++) {
                float x = all[p * WIDTH + e];
                if (type == KvType.Q8_0) {
                    int b = e / 32 * 32;
                    float amax = 0;
                    for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(all[p * WIDTH + b + i]));
                    assertEquals(x, row[e], amax / 127 * 0.5 * 1.01, "position " + p + " element " + e);
                } else {
                    assertEquals(Float.floatToIntBits(stored(type, x)), Float.floatToIntBits(row[e]), "position " + p + " element " + e);
                }
            }
        }
        for (int h = 0; h < HEADS; h++) {
            rows.gather(null, 0, n, h * HEAD, HEAD, tile);
            int[] idx = {3, 9, 149};
            float[] picked = new float[idx.length * HEAD];
            rows.gather(idx, 0, idx.length, h * HEAD, HEAD, picked);
            for (int p = 0; p < n; p++) {
                rows.read(p, h * HEAD, HEAD, row, 0);
                for (int c = 0; c < HEAD; c++) assertEquals(Float.floatToIntBits(row[c]), Float.floatToIntBits(tile[p * HEAD + c]), "gather, head " + h);
            }
            for (int j = 0; j < idx.length; j++) {
                for (int c = 0; c < HEAD; c++) assertEquals(tile[idx[j] * HEAD + c], picked[j * HEAD + c], "gather by index");
            }
        }
        // one head's rows are contiguous: position p of head h right after position p-1
        assertEquals(rows.index(5, HEAD + 3) + HEAD, rows.index(6, HEAD + 3));
        assertTrue(rows.index(0, HEAD) >= n * HEAD);
    }

    /**
     * prefetch only loads: for every type and for heads of 32, 64 and 128 elements, over rows up to the last
     * position of the last head (its bounds), it returns the sum of one element per 64 bytes of each row and the
     * row's last element (what a gather of the rows then finds in cache), and gather gives the same values after it.
     */
    @ParameterizedTest
    @EnumSource(KvType.class)
    void prefetchLoadsOneElementPerCacheLineAndChangesNothing(KvType type) {
        for (int head : new int[] {32, 64, 128}) {
            int width = 2 * head, n = 40;
            Random rnd = new Random(head);
            float[] all = new float[n * width];
            for (int i = 0; i < all.length; i++) all[i] = (float) rnd.nextGaussian();
            KvRows rows = KvRows.of(type, all, width, head);
            int[] idx = {0, 5, 17, n - 1};
            int step = switch (type) { case F32 -> 16; case F16 -> 32; case Q8_0 -> 64; };
            for (int h = 0; h < 2; h++) {
                float[] before = new float[idx.length * head], after = new float[idx.length * head];
                rows.gather(idx, 0, idx.length, h * head, head, before);
                int expected = 0;
                for (int pos : idx) {
                    int at = rows.index(pos, h * head);
                    for (int i = 0; i < head - 1; i += step) expected += raw(rows, at + i);
                    expected += raw(rows, at + head - 1);
                    if (type == KvType.Q8_0) expected += rows.q8Scales()[at >> 5];
                }
                assertEquals(expected, rows.prefetch(idx, 0, idx.length, h * head, head), type + ", head size " + head);
                assertEquals(0, rows.prefetch(null, 0, idx.length, h * head, head), "rows in order: nothing to prefetch");
                rows.gather(idx, 0, idx.length, h * head, head, after);
                for (int i = 0; i < before.length; i++) assertEquals(Float.floatToIntBits(before[i]), Float.floatToIntBits(after[i]));
            }
        }
    }

    /**
     * The f16 gather widens halves in one loop that C2 compiles to the hardware conversion: every one of the 65,536
     * half-precision bit patterns (zeros, subnormals, infinities, NaN) comes out as Float.float16ToFloat gives it
     * (NaN as a NaN), in rows of 64 (two vector copies a row) and of 40 (arraycopy), for rows in order (widened in
     * place), for scattered rows copied through the caller's halves first, and without them (row by row).
     */
    @Test
    void f16GatherWidensEveryHalfExactly() {
        for (int head : new int[] {64, 40}) {
            int n = 65536 / head + 1;
            KvRows rows = KvRows.of(KvType.F16, new float[n * head], head, head);
            for (int i = 0; i < 65536; i++) rows.f16()[i] = (short) i;
            int[] reversed = new int[n];
            for (int j = 0; j < n; j++) reversed[j] = n - 1 - j;
            float[] inOrder = new float[n * head], viaHalves = new float[n * head], rowByRow = new float[n * head];
            rows.gather(null, 0, n, 0, head, inOrder);
            rows.gather(reversed, 0, n, 0, head, viaHalves, new short[n * head]);
            rows.gather(reversed, 0, n, 0, head, rowByRow);
            for (int i = 0; i < 65536; i++) {
                float want = Float.float16ToFloat((short) i);
                int at = (n - 1 - i / head) * head + i % head; // where position i / head went in the reversed gathers
                for (float[] got : new float[][] {inOrder, viaHalves, rowByRow}) {
                    float g = got == inOrder ? got[i] : got[at];
                    String what = "half 0x" + Integer.toHexString(i) + ", rows of " + head + (got == inOrder ? ", in order" : got == viaHalves ? ", via halves" : ", row by row");
                    if (Float.isNaN(want)) assertTrue(Float.isNaN(g), what + " is a NaN");
                    else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(g), what);
                }
            }
        }
    }

    private static int raw(KvRows rows, int at) {
        return switch (rows.type) {
            case F32 -> Float.floatToRawIntBits(rows.f32()[at]);
            case F16 -> rows.f16()[at];
            case Q8_0 -> rows.q8()[at];
        };
    }
}
