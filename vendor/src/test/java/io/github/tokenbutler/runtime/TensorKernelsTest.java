package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.FloatTensor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every tensor type the runtime computes with, on random blocks, against a float64 decoder written here
 * from the block layouts of ggml-common.h (and ggml-quants.c's dequantize_row_* for the K-quants'
 * packing), independent of the runtime's code. Tolerances: a dequantized element within 1e-6 of the
 * block's largest magnitude (float rounding of d*sc*q - dmin*m); a dot product within 1e-5 of
 * sum |w_i x_i| (float accumulation in another order); the Vector API path likewise against the scalar
 * path; dotRows4 equal to four dotRow calls bit for bit, and likewise on an input reordered by prepare;
 * the decode matmul (matvec) over odd row ranges.
 */
class TensorKernelsTest {
    static final int ROW = 1024, ROWS = 6;

    static GGMLType[] types() { return FloatTensor.SUPPORTED.toArray(GGMLType[]::new); }

    @ParameterizedTest
    @MethodSource("types")
    void dequantizeMatchesTheFloat64Decoder(GGMLType type) {
        byte[] bytes = randomBlocks(type, ROW * ROWS, new Random(type.id));
        FloatTensor t = tensor(type, bytes);
        double[] ref = decode(type, bytes, ROW * ROWS);
        float[] scalar = new float[ROW * ROWS];
        t.dequantizeScalar(0, scalar, 0, scalar.length);
        assertClose(ref, scalar, type.blockSize, type + " scalar");
        if (Llama3.Simd.ENABLED) {
            float[] vector = new float[ROW * ROWS];
            t.dequantizeVector(0, vector, 0, vector.length);
            assertClose(ref, vector, type.blockSize, type + " vector");
        }
        for (long i : new long[] {0, 1, 31, 255, ROW * ROWS - 1}) assertEquals(ref[(int) i], t.getFloat(i), 1e-6 * maxAbs(ref), type + " getFloat(" + i + ")");
    }

    @ParameterizedTest
    @MethodSource("types")
    void dotProductsMatchTheFloat64Decoder(GGMLType type) {
        Random random = new Random(100 + type.id);
        byte[] bytes = randomBlocks(type, ROW * ROWS, random);
        FloatTensor t = tensor(type, bytes);
        double[] w = decode(type, bytes, ROW * ROWS);
        float[] x = new float[ROW + 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
        for (int r = 0; r < ROWS; r++) {
            for (int xOff : new int[] {0, 64}) {
                double ref = 0, mag = 0;
                for (int i = 0; i < ROW; i++) {
                    ref += w[r * ROW + i] * x[xOff + i];
                    mag += Math.abs(w[r * ROW + i] * x[xOff + i]);
                }
                long off = (long) r * ROW;
                assertEquals(ref, t.dotScalar(off, x, xOff, ROW), 1e-5 * mag, type + " scalar row " + r);
                if (Llama3.Simd.ENABLED) {
                    assertEquals(ref, t.dotVector(off, x, xOff, ROW), 1e-5 * mag, type + " vector row " + r);
                    assertEquals(t.dotScalar(off, x, xOff, ROW), t.dotVector(off, x, xOff, ROW), 1e-5 * mag, type + " vector vs scalar row " + r);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("types")
    void fourRowsAtOnceEqualOneRowAtATime(GGMLType type) {
        Random random = new Random(200 + type.id);
        FloatTensor t = tensor(type, randomBlocks(type, ROW * ROWS, random));
        float[] x = new float[ROW];
        for (int i = 0; i < ROW; i++) x[i] = (float) random.nextGaussian();
        float[] four = new float[4];
        t.dotRows4(0, 3L * ROW, 4L * ROW, 1L * ROW, x, ROW, four);
        long[] rows = {0, 3, 4, 1};
        for (int k = 0; k < 4; k++) {
            float one = t.dotRow(rows[k] * ROW, x, 0, ROW);
            assertEquals(Float.floatToIntBits(one), Float.floatToIntBits(four[k]), type + " row " + rows[k] + ": " + one + " vs " + four[k]);
        }
    }

    /** The matmul's path: x reordered by prepare (Q6_K with 16 lanes), then rows one or four at a time. */
    @ParameterizedTest
    @MethodSource("types")
    void preparedInputGivesTheSameDotProducts(GGMLType type) {
        Random random = new Random(300 + type.id);
        byte[] bytes = randomBlocks(type, ROW * ROWS, random);
        FloatTensor t = tensor(type, bytes);
        double[] w = decode(type, bytes, ROW * ROWS);
        float[] x = new float[ROW];
        for (int i = 0; i < ROW; i++) x[i] = (float) random.nextGaussian();
        float[] px = t.prepare(x, ROW, new float[ROW]);
        float[] four = new float[4];
        t.dotRows4Prepared(2L * ROW, 5L * ROW, 0, 1L * ROW, px, ROW, four);
        long[] rows = {2, 5, 0, 1};
        for (int k = 0; k < 4; k++) {
            int r = (int) rows[k];
            double ref = 0, mag = 0;
            for (int i = 0; i < ROW; i++) {
                ref += w[r * ROW + i] * x[i];
                mag += Math.abs(w[r * ROW + i] * x[i]);
            }
            float one = t.dotRowPrepared(rows[k] * ROW, px, ROW);
            assertEquals(ref, one, 1e-5 * mag, type + " prepared row " + r);
            assertEquals(Float.floatToIntBits(one), Float.floatToIntBits(four[k]), type + " prepared row " + r + ": " + one + " vs " + four[k]);
        }
    }

    /**
     * The decode matmul (matvec: each type's own row loop) over row ranges of odd lengths and starts, writing
     * and accumulating, against the float64 decoder: within 1e-5 of sum |w_i x_i| per row (the same bound as
     * one dot product; the Q4_0 loop also takes its -8 offset out as 8 * sum(d * block sum of x)).
     */
    @ParameterizedTest
    @MethodSource("types")
    void matvecOverOddRowRangesMatchesTheFloat64Decoder(GGMLType type) {
        matvecOverOddRowRanges(type, false);
    }

    /** Q6_K's decode from its int8 copy (repackForDecode, the output matrix of Q4_0 files) the same way. */
    @org.junit.jupiter.api.Test
    void q6kMatvecFromTheInt8CopyMatchesTheFloat64Decoder() {
        matvecOverOddRowRanges(GGMLType.Q6_K, true);
    }

    private static void matvecOverOddRowRanges(GGMLType type, boolean repack) {
        int rows = 23;
        Random random = new Random(400 + type.id);
        byte[] bytes = randomBlocks(type, ROW * rows, random);
        FloatTensor t = tensor(type, bytes);
        if (repack) {
            long made = ((Llama3.Q6_KTensor) t).repackForDecode();
            assertTrue(made == 0 || made == (long) ROW * rows + 4L * ROW * rows / 16, "copy of " + made + " bytes");
        }
        double[] w = decode(type, bytes, ROW * rows);
        float[] x = new float[ROW];
        for (int i = 0; i < ROW; i++) x[i] = (float) random.nextGaussian();
        int[][] ranges = {{0, rows}, {3, 20}, {5, 6}, {1, 10}, {7, 7}};
        for (boolean accumulate : new boolean[] {false, true}) {
            for (int[] range : ranges) {
                float[] out = new float[rows + 5];
                for (int i = 0; i < out.length; i++) out[i] = accumulate ? i : -1f;
                t.matvec(x, ROW, out, 2, range[0], range[1], accumulate, new float[ROW]);
                for (int r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int i = 0; i < ROW; i++) {
                        ref += w[r * ROW + i] * x[i];
                        mag += Math.abs(w[r * ROW + i] * x[i]);
                    }
                    int o = 2 + r;
                    boolean inside = r >= range[0] && r < range[1];
                    double expected = inside ? (accumulate ? o + ref : ref) : (accumulate ? o : -1f);
                    assertEquals(expected, out[o], inside ? 1e-5 * mag + (accumulate ? 1e-6 * o : 0) : 0,
                            type + " rows " + range[0] + ".." + range[1] + (accumulate ? " accumulating" : "") + ", row " + r);
                }
                assertEquals(accumulate ? 0f : -1f, out[0]);
                assertEquals(accumulate ? 1f : -1f, out[1]);
            }
        }
    }

    static GGMLType[] rowGroupTypes() { return new GGMLType[] {GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q6_K, GGMLType.Q4_K}; }

    /**
     * Q8_0's, Q4_0's, Q4_K's and Q6_K's decode from their row-group copies (repackRowGroups; Q6_K's int8 copy,
     * repackForDecode(cols)) with x quantized to 8 bits (QuantizedInput), on odd shapes (3 and 5 groups of 16 rows;
     * 96 and 2080 columns: 3 and 65 blocks; the K-quants 256 and 2304: 1 and 9 superblocks) and row ranges of whole groups,
     * writing and accumulating. Two references: the same integer products and scales summed in float64
     * (dotQuantizedPlain; bound 1e-6 of sum |d_w d_x q_w q_x|: only float rounding differs), and the float64 decoder
     * with x itself, within what rounding x to 8 bits can move it: half a step d_x of each element's block times |w|,
     * summed (llama.cpp's Q8_0 matvec rounds its activations the same way). x has a 10x larger value every 7
     * elements, so that the steps are coarse for the others.
     */
    @ParameterizedTest
    @MethodSource("rowGroupTypes")
    void matvecFromTheRowGroupCopyMatchesBothReferences(GGMLType type) {
        assumeTrue(Llama3.Simd.ENABLED && Llama3.Simd.L == 16, "the row-group kernel needs 16 float lanes (AVX-512)");
        boolean q6 = type == GGMLType.Q6_K, q4k = type == GGMLType.Q4_K;
        int[][] shapes = q6 || q4k ? new int[][] {{48, 256}, {80, 2304}, {16, 256}} : new int[][] {{48, 96}, {80, 2080}, {16, 32}};
        for (int[] shape : shapes) {
            int rows = shape[0], cols = shape[1];
            Random random = new Random(rows * 31L + cols + type.id);
            byte[] bytes = randomBlocks(type, rows * cols, random);
            MemorySegment seg = Arena.ofAuto().allocate(bytes.length, 64);
            seg.copyFrom(MemorySegment.ofArray(bytes));
            FloatTensor t = FloatTensor.of(new TensorInfo("w", type, new long[] {cols, rows}, 0), seg);
            if (q6) {
                assertEquals((long) rows * cols + 4L * rows * cols / 16, ((Llama3.Q6_KTensor) t).repackForDecode(cols), "copy bytes");
            } else if (q4k) {
                assertEquals((long) rows * cols / 2 + 8L * rows * cols / 32, ((Llama3.Q4_KTensor) t).repackRowGroups(cols), "copy bytes");
            } else {
                assertEquals(type.byteSize(rows * cols), ((Llama3.RowGroupTensor) t).repackRowGroups(cols), "copy bytes: the file's own");
            }
            double[] w = decode(type, bytes, rows * cols);
            float[] x = new float[cols];
            for (int i = 0; i < cols; i++) x[i] = (float) (random.nextGaussian() * (i % 7 == 0 ? 10 : 1));
            Llama3.QuantizedInput xq = new Llama3.QuantizedInput();
            xq.quantize(x, cols);
            int[][] ranges = {{0, rows}, {16, rows}, {0, 16}, {16, 32}};
            double worst = 0;
            for (boolean accumulate : new boolean[] {false, true}) {
                for (int[] range : ranges) {
                    if (range[1] > rows) continue;
                    float[] out = new float[rows + 5];
                    for (int i = 0; i < out.length; i++) out[i] = accumulate ? i : -1f;
                    assertTrue(t.matvecQuantized(xq, out, 2, range[0], range[1], accumulate));
                    for (int r = 0; r < rows; r++) {
                        double exact = q6 ? ((Llama3.Q6_KTensor) t).dotQuantizedPlain(r, xq)
                                : q4k ? ((Llama3.Q4_KTensor) t).dotQuantizedPlain(r, xq) : ((Llama3.RowGroupTensor) t).dotQuantizedPlain(r, xq);
                        double ref = 0, mag = 0, qmag = 0, rounding = 0;
                        for (int b = 0; b < cols / 32; b++) {
                            for (int k = 32 * b; k < 32 * b + 32; k++) {
                                ref += w[r * cols + k] * x[k];
                                mag += Math.abs(w[r * cols + k] * x[k]);
                                qmag += Math.abs(w[r * cols + k] * xq.value(k) * xq.scales[b]);
                                rounding += Math.abs(w[r * cols + k]) * xq.scales[b] / 2;
                            }
                        }
                        int o = 2 + r;
                        String what = type + " " + rows + "x" + cols + " rows " + range[0] + ".." + range[1] + (accumulate ? " accumulating" : "") + ", row " + r;
                        if (r < range[0] || r >= range[1]) {
                            assertEquals(accumulate ? o : -1f, out[o], 0, what + ": outside the range, untouched");
                            continue;
                        }
                        double got = accumulate ? out[o] - o : out[o];
                        assertEquals(exact, got, 1e-6 * qmag + (accumulate ? 1e-6 * o : 0), what + " against the same integer sums in float64");
                        assertEquals(ref, got, rounding * (1 + 1e-6) + 1e-6 * mag, what + " against the float64 decoder with x unquantized");
                        worst = Math.max(worst, Math.abs(ref - got) / rounding);
                    }
                }
            }
            System.out.printf(java.util.Locale.ROOT, "%s row groups %dx%d: error against unquantized x at most %.2f of the 8-bit rounding bound%n", type, rows, cols, worst);
            // rows that are not whole groups go to the mapped path's matvec
            assertTrue(!t.matvecQuantized(xq, new float[rows], 0, 0, rows - 1, false), "a range of part of a group is declined");
        }
    }

    /**
     * The int8 kernels' input: d = max |x| / 127 per 32 elements, q = floor(x / d + 1/2)
     * (x times 1/d, in float, as both the vector and the scalar quantize compute), |q| <= 127, the block sums, the pair packing; an all-zero
     * block gets d = 0 and q = 0.
     */
    @org.junit.jupiter.api.Test
    void quantizedInputRoundsEachBlockAsStated() {
        Random random = new Random(11);
        int cols = 32 * 37;
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = i / 32 == 5 ? 0f : (float) (random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3));
        Llama3.QuantizedInput q = new Llama3.QuantizedInput();
        q.quantize(x, cols);
        for (int b = 0; b < cols / 32; b++) {
            float amax = 0f;
            for (int k = 0; k < 32; k++) amax = Math.max(amax, Math.abs(x[32 * b + k]));
            float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
            assertEquals(d, q.scales[b], 0f, "block " + b + " scale");
            int sum = 0;
            for (int k = 0; k < 32; k++) {
                int expected = (int) Math.floor(x[32 * b + k] * id + 0.5f), got = q.value(32 * b + k);
                assertEquals(expected, got, "element " + (32 * b + k));
                assertTrue(Math.abs(got) <= 127);
                sum += got;
            }
            assertEquals(sum, q.sums[b], "block " + b + " sum");
        }
    }

    static GGMLType[] f16ScaleRowGroupTypes() { return new GGMLType[] {GGMLType.Q8_0, GGMLType.Q4_0}; }

    /**
     * A file whose scales hold an Inf gets no row-group copy: its exact path shows the Inf in the logits. (Q6_K's copy
     * keeps its scales as floats, d * scale, through which an Inf passes as it is.)
     */
    @ParameterizedTest
    @MethodSource("f16ScaleRowGroupTypes")
    void aMatrixWithAnInfiniteScaleKeepsTheExactPath(GGMLType type) {
        byte[] bytes = randomBlocks(type, 16 * 64, new Random(5));
        bytes[type.typeSize] = 0;
        bytes[type.typeSize + 1] = 0x7C; // block 1's scale: +Inf
        MemorySegment seg = Arena.ofAuto().allocate(bytes.length, 64);
        seg.copyFrom(MemorySegment.ofArray(bytes));
        var t = (Llama3.RowGroupTensor) FloatTensor.of(new TensorInfo("w", type, new long[] {64, 16}, 0), seg);
        assertEquals(0, t.repackRowGroups(64));
        assertTrue(!t.takesQuantizedInput(), "no copy");
    }

    /**
     * The prefill matmul (rows dequantized four at a time against four tokens at a time, plus the row and token
     * tails) against the float64 decoder: 23 rows and 7 tokens, so both tails run; writing and accumulating.
     */
    @ParameterizedTest
    @MethodSource("types")
    void batchedMatmulMatchesTheFloat64Decoder(GGMLType type) {
        int rows = 23, n = 7;
        Random random = new Random(500 + type.id);
        byte[] bytes = randomBlocks(type, ROW * rows, random);
        FloatTensor t = tensor(type, bytes);
        double[] w = decode(type, bytes, ROW * rows);
        float[] x = new float[n * ROW];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
        for (boolean accumulate : new boolean[] {false, true}) {
            float[] out = new float[n * rows];
            for (int i = 0; i < out.length; i++) out[i] = accumulate ? 0.5f * i : Float.NaN;
            Llama3.Forward.batchRows(t, rows, x, ROW, n, out, 0, 10, accumulate, new float[4 * ROW]);
            Llama3.Forward.batchRows(t, rows, x, ROW, n, out, 10, rows, accumulate, new float[4 * ROW]);
            for (int tok = 0; tok < n; tok++) {
                for (int r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int i = 0; i < ROW; i++) {
                        ref += w[r * ROW + i] * x[tok * ROW + i];
                        mag += Math.abs(w[r * ROW + i] * x[tok * ROW + i]);
                    }
                    int o = tok * rows + r;
                    double expected = accumulate ? 0.5 * o + ref : ref;
                    assertEquals(expected, out[o], 1e-5 * mag + (accumulate ? 1e-6 * o : 0), type + " token " + tok + " row " + r);
                }
            }
        }
    }

    // ---- helpers ----

    static FloatTensor tensor(GGMLType type, byte[] bytes) {
        MemorySegment seg = Arena.ofAuto().allocate(bytes.length, 64);
        seg.copyFrom(MemorySegment.ofArray(bytes));
        return FloatTensor.of(new TensorInfo("w", type, new long[] {ROW, bytes.length / type.typeSize * type.blockSize / ROW}, 0), seg);
    }

    /** Random bytes, with every f16/bf16/f32 field set to a finite value of a realistic size. */
    static byte[] randomBlocks(GGMLType type, int n, Random random) {
        ByteBuffer b = ByteBuffer.allocate((int) type.byteSize(n)).order(ByteOrder.LITTLE_ENDIAN);
        random.nextBytes(b.array());
        int blocks = n / type.blockSize, size = type.typeSize;
        for (int k = 0; k < blocks; k++) {
            int o = k * size;
            switch (type) {
                case F32 -> b.putFloat(o, (float) random.nextGaussian());
                case F16 -> b.putShort(o, Float.floatToFloat16((float) random.nextGaussian()));
                case BF16 -> b.putShort(o, (short) (Float.floatToIntBits((float) random.nextGaussian()) >>> 16));
                case Q8_0, Q4_0 -> b.putShort(o, half(random, 0.05));
                case Q4_1, Q4_K, Q5_K -> {
                    b.putShort(o, half(random, 0.05));
                    b.putShort(o + 2, half(random, 0.05));
                }
                case Q6_K -> b.putShort(o + 208, half(random, 0.01));
                default -> throw new IllegalArgumentException("no random blocks for " + type);
            }
        }
        return b.array();
    }

    private static short half(Random random, double scale) { return Float.floatToFloat16((float) (random.nextGaussian() * scale)); }

    /** The float64 decoder: one block at a time, straight from the block layouts. */
    static double[] decode(GGMLType type, byte[] bytes, int n) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        double[] y = new double[n];
        int size = type.typeSize, bs = type.blockSize;
        for (int k = 0; k < n / bs; k++) {
            int o = k * size, e = k * bs;
            switch (type) {
                case F32 -> y[e] = b.getFloat(o);
                case F16 -> y[e] = Float.float16ToFloat(b.getShort(o));
                case BF16 -> y[e] = Float.intBitsToFloat((b.getShort(o) & 0xFFFF) << 16);
                case Q8_0 -> { // half d; int8 qs[32]
                    double d = h(b, o);
                    for (int j = 0; j < 32; j++) y[e + j] = d * b.get(o + 2 + j);
                }
                case Q4_0 -> { // half d; u8 qs[16]: low nibbles are elements 0..15, high nibbles 16..31, offset 8
                    double d = h(b, o);
                    for (int j = 0; j < 16; j++) {
                        int q = u(b, o + 2 + j);
                        y[e + j] = d * ((q & 15) - 8);
                        y[e + j + 16] = d * ((q >> 4) - 8);
                    }
                }
                case Q4_1 -> { // half d, m; u8 qs[16]
                    double d = h(b, o), m = h(b, o + 2);
                    for (int j = 0; j < 16; j++) {
                        int q = u(b, o + 4 + j);
                        y[e + j] = d * (q & 15) + m;
                        y[e + j + 16] = d * (q >> 4) + m;
                    }
                }
                case Q4_K, Q5_K -> { // half d, dmin; u8 scales[12] (6-bit scale and min per 32); [Q5_K: u8 qh[32]]; u8 qs[128]
                    boolean five = type == GGMLType.Q5_K;
                    double d = h(b, o), dmin = h(b, o + 2);
                    int scales = o + 4, qh = o + 16, qs = five ? o + 48 : o + 16;
                    for (int c = 0; c < 4; c++) { // 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high nibbles)
                        for (int half = 0; half < 2; half++) {
                            int sub = 2 * c + half;
                            int[] sm = scaleMin(b, scales, sub);
                            for (int l = 0; l < 32; l++) {
                                int q = u(b, qs + 32 * c + l);
                                int v = half == 0 ? q & 15 : q >> 4;
                                if (five && (u(b, qh + l) & (1 << sub)) != 0) v += 16;
                                y[e + 64 * c + 32 * half + l] = d * sm[0] * v - dmin * sm[1];
                            }
                        }
                    }
                }
                case Q6_K -> { // u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), int8 scales[16], half d
                    double d = h(b, o + 208);
                    for (int i = 0; i < 256; i++) {
                        int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
                        int ql = u(b, o + 64 * half + l + (quarter % 2) * 32);
                        int low = quarter < 2 ? ql & 15 : ql >> 4;
                        int high = (u(b, o + 128 + 32 * half + l) >> (2 * quarter)) & 3;
                        int scale = b.get(o + 192 + 8 * half + l / 16 + 2 * quarter);
                        y[e + i] = d * scale * ((low | high << 4) - 32);
                    }
                }
                default -> throw new IllegalArgumentException("no decoder for " + type);
            }
        }
        return y;
    }

    /** The 6-bit scale and min of sub-block j (0..7) packed in 12 bytes: j < 4 in the low 6 bits of bytes j and j+4; j >= 4 split over nibbles of byte j+4 and the top 2 bits of bytes j-4 and j. */
    private static int[] scaleMin(ByteBuffer b, int at, int j) {
        if (j < 4) return new int[] {u(b, at + j) & 63, u(b, at + j + 4) & 63};
        return new int[] {(u(b, at + j + 4) & 15) | (u(b, at + j - 4) >> 6) << 4, (u(b, at + j + 4) >> 4) | (u(b, at + j) >> 6) << 4};
    }

    private static double h(ByteBuffer b, int at) { return Float.float16ToFloat(b.getShort(at)); }
    private static int u(ByteBuffer b, int at) { return b.get(at) & 0xFF; }

    private static double maxAbs(double[] v) {
        double m = 0;
        for (double x : v) m = Math.max(m, Math.abs(x));
        return m;
    }

    private static void assertClose(double[] ref, float[] got, int blockSize, String what) {
        for (int k = 0; k < ref.length; k += Math.max(blockSize, 256)) {
            int end = Math.min(ref.length, k + Math.max(blockSize, 256));
            double scale = 0;
            for (int i = k; i < end; i++) scale = Math.max(scale, Math.abs(ref[i]));
            for (int i = k; i < end; i++) {
                double err = Math.abs(ref[i] - got[i]);
                assertTrue(err <= 1e-6 * scale + 1e-30, what + ": element " + i + " is " + got[i] + ", float64 decoder says " + ref[i]);
            }
        }
    }
}
