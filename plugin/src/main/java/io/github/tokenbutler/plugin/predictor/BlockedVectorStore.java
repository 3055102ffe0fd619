package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.Parallel;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Sequences of small vectors (one per token position) for a number of groups, e.g. the importance keys of
 * every (layer, head) or the predictor's own attention keys per head, stored for fast dot products against
 * one query.
 *
 * <p><b>Layout</b> (the same for every precision, so a fused kernel can read the raw arrays): each group has
 * its own array. Positions are packed in blocks of {@link #BLOCK} = 16; inside a block the values are stored
 * dimension-major, so value j of position p is at
 * {@code (p / 16) * (dim * 16) + j * 16 + p % 16}. Scoring a block is then dim multiply-adds of one broadcast
 * query value with 16 consecutive stored values: no horizontal sums, and the 16 results land in the output
 * with one store. {@link Q8} keeps one F32 scale per position in a parallel array, {@code scales[p]}.
 * {@link Q4} packs two dimensions per byte (see there) and keeps its scales the same way.
 *
 * <p>Arrays grow (doubling, up to maxPositions) as positions are written, so a long context costs memory only
 * when it is used. Reading is safe from many threads at once; writing and growing are not, and must not run
 * while anyone reads.
 */
public abstract sealed class BlockedVectorStore permits BlockedVectorStore.F32, BlockedVectorStore.F16,
        BlockedVectorStore.Scaled {
    /** Positions per block. */
    public static final int BLOCK = 16;
    /** Positions allocated at first use. */
    private static final int INITIAL_POSITIONS = 256;

    // The kernels need vectors of at most 16 floats (one block); 512 bits where the hardware has them.
    static final VectorSpecies<Float> S = PredictorMath.F;
    private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED.length() <= BLOCK
            ? IntVector.SPECIES_PREFERRED : IntVector.SPECIES_512;
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;

    final int groups, dim, maxPositions;
    /** Positions the arrays hold now (a multiple of BLOCK). */
    int capacity;

    BlockedVectorStore(int groups, int dim, int maxPositions) {
        if (groups <= 0 || dim <= 0 || maxPositions <= 0) {
            throw new IllegalArgumentException("groups, dim and maxPositions must be positive, got " + groups + ", " + dim + ", " + maxPositions);
        }
        this.groups = groups;
        this.dim = dim;
        this.maxPositions = maxPositions;
    }

    /** An empty store (nothing allocated until the first write). */
    public static BlockedVectorStore create(KeyPrecision precision, int groups, int dim, int maxPositions) {
        return switch (precision) {
            case F32 -> new F32(groups, dim, maxPositions);
            case F16 -> new F16(groups, dim, maxPositions);
            case Q8 -> new Q8(groups, dim, maxPositions);
            case Q4 -> new Q4(groups, dim, maxPositions);
        };
    }

    public abstract KeyPrecision precision();
    public int groups() { return groups; }
    public int dim() { return dim; }
    /** Positions allocated now (a multiple of {@link #BLOCK}); the raw arrays have room for this many. */
    public int capacity() { return capacity; }

    /** Bytes allocated for all groups. */
    public long allocatedBytes() { return (long) groups * capacity * precision().bytesPerVector(dim); }

    /**
     * Elements of a group's raw array per position: dim, or (dim + 1) / 2 bytes for {@link Q4}. A block of
     * positions spans {@code rowWidth() * BLOCK} elements.
     */
    public int rowWidth() { return dim; }

    /** Index of value j of position p inside a group's array (not for {@link Q4}, which packs two per byte). */
    public static int index(int dim, int p, int j) { return (p / BLOCK) * (dim * BLOCK) + j * BLOCK + p % BLOCK; }

    /** Makes room for positions 0..positions-1. */
    public void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        if (positions > maxPositions) {
            throw new IllegalArgumentException("position " + (positions - 1) + " is beyond the store's " + maxPositions + " positions");
        }
        long grown = Math.max((long) positions, Math.max(INITIAL_POSITIONS, 2L * capacity));
        int target = (int) Math.min(grown, maxPositions);
        target = (target + BLOCK - 1) / BLOCK * BLOCK;
        resize(target);
        capacity = target;
    }

    abstract void resize(int positions);

    /** Stores src[off..off+dim) as the vector of group g at position p (room must have been made). */
    public abstract void put(int g, int p, float[] src, int off);

    /** The stored vector (as its precision keeps it) of group g at position p, into dst[off..off+dim). */
    public abstract void get(int g, int p, float[] dst, int off);

    /**
     * out[p] = scale * (q[qOff..qOff+dim) · v[g][p]) for p < count. The fast kernel.
     */
    public abstract void dotScores(int g, float[] q, int qOff, int count, float scale, float[] out);

    /**
     * out[p] = scale * sum over k < nGroups of (q[qOff + k*dim ..] · v[g0 + k][p]) for p < count: one pass over
     * several groups, e.g. the query heads that share a KV head.
     */
    public abstract void dotScoresSum(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out);

    /** The plain reference of {@link #dotScoresSum} (and, with nGroups 1, of {@link #dotScores}): float64 over decoded vectors. */
    public void dotScoresPlain(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
        float[] v = new float[dim];
        for (int p = 0; p < count; p++) {
            double s = 0;
            for (int k = 0; k < nGroups; k++) {
                get(g0 + k, p, v, 0);
                for (int j = 0; j < dim; j++) s += (double) q[qOff + k * dim + j] * v[j];
            }
            out[p] = (float) (s * scale);
        }
    }

    /**
     * out[outOff + j] = sum over p < count of w[p] * v[g][p][j]: the weighted sum of stored vectors (attention
     * values). Plain here; {@link F32} overrides it with a vector kernel.
     */
    public void weightedSum(int g, float[] w, int count, float[] out, int outOff) {
        float[] v = new float[dim];
        double[] acc = new double[dim];
        for (int p = 0; p < count; p++) {
            get(g, p, v, 0);
            for (int j = 0; j < dim; j++) acc[j] += (double) w[p] * v[j];
        }
        for (int j = 0; j < dim; j++) out[outOff + j] = (float) acc[j];
    }

    /**
     * Benchmarks: positions 0..n-1 of every group get values uniform in [-amplitude, amplitude), from a
     * generator seeded per group, so the result does not depend on how the groups are spread over threads.
     */
    public void fillRandom(int n, long seed, float amplitude) {
        ensureCapacity(n);
        Parallel.forRange(groups, 1, (from, to, worker) -> {
            float[] v = new float[dim];
            for (int g = from; g < to; g++) {
                SplitMix64 rng = new SplitMix64(seed * 0x9E3779B97F4A7C15L + g);
                for (int p = 0; p < n; p++) {
                    for (int j = 0; j < dim; j++) v[j] = amplitude * (2f * rng.nextFloat() - 1f);
                    put(g, p, v, 0);
                }
            }
        });
    }

    static void checkArgs(int count, int capacity, float[] out) {
        if (count < 0 || count > capacity) throw new IllegalArgumentException("count " + count + " is outside 0.." + capacity);
        if (out.length < count) throw new IllegalArgumentException("output has " + out.length + " floats, needs " + count);
    }

    /** Stores the 16 (or fewer, at the end) results of one block of positions starting at p0. */
    private static void store(FloatVector acc, float[] out, int p0, int count) {
        if (p0 + S.length() <= count) acc.intoArray(out, p0);
        else acc.intoArray(out, p0, S.indexInRange(p0, count));
    }

    // =============================================================================================

    /** 4 bytes per value. */
    public static final class F32 extends BlockedVectorStore {
        private float[][] data;

        F32(int groups, int dim, int maxPositions) {
            super(groups, dim, maxPositions);
            data = new float[groups][0];
        }

        @Override public KeyPrecision precision() { return KeyPrecision.F32; }

        /** The raw array of group g (see the class comment for the layout); valid until the store grows. */
        public float[] array(int g) { return data[g]; }

        @Override void resize(int positions) {
            for (int g = 0; g < groups; g++) data[g] = Arrays.copyOf(data[g], positions * dim);
        }

        @Override public void put(int g, int p, float[] src, int off) {
            float[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            for (int j = 0; j < dim; j++) a[base + j * BLOCK] = src[off + j];
        }

        @Override public void get(int g, int p, float[] dst, int off) {
            float[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            for (int j = 0; j < dim; j++) dst[off + j] = a[base + j * BLOCK];
        }

        @Override public void dotScores(int g, float[] q, int qOff, int count, float scale, float[] out) {
            checkArgs(count, capacity, out);
            float[] a = data[g];
            int lanes = S.length(), stride = dim * BLOCK;
            for (int p0 = 0, base = 0; p0 < count; p0 += BLOCK, base += stride) {
                for (int s = 0; s < BLOCK && p0 + s < count; s += lanes) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int j = 0; j < dim; j++) {
                        acc = FloatVector.fromArray(S, a, base + j * BLOCK + s).fma(FloatVector.broadcast(S, q[qOff + j]), acc);
                    }
                    store(acc.mul(scale), out, p0 + s, count);
                }
            }
        }

        @Override public void dotScoresSum(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
            checkArgs(count, capacity, out);
            int lanes = S.length(), stride = dim * BLOCK;
            for (int p0 = 0, base = 0; p0 < count; p0 += BLOCK, base += stride) {
                for (int s = 0; s < BLOCK && p0 + s < count; s += lanes) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int k = 0; k < nGroups; k++) {
                        float[] a = data[g0 + k];
                        int qk = qOff + k * dim;
                        for (int j = 0; j < dim; j++) {
                            acc = FloatVector.fromArray(S, a, base + j * BLOCK + s).fma(FloatVector.broadcast(S, q[qk + j]), acc);
                        }
                    }
                    store(acc.mul(scale), out, p0 + s, count);
                }
            }
        }

        @Override public void weightedSum(int g, float[] w, int count, float[] out, int outOff) {
            checkArgs(count, capacity, w);
            float[] a = data[g];
            int lanes = S.length(), stride = dim * BLOCK;
            for (int j = 0; j < dim; j++) {
                FloatVector acc = FloatVector.zero(S);
                for (int p0 = 0, base = j * BLOCK; p0 < count; p0 += BLOCK, base += stride) {
                    for (int s = 0; s < BLOCK && p0 + s < count; s += lanes) {
                        FloatVector wv = p0 + s + lanes <= count ? FloatVector.fromArray(S, w, p0 + s)
                                : FloatVector.fromArray(S, w, p0 + s, S.indexInRange(p0 + s, count));
                        acc = FloatVector.fromArray(S, a, base + s).fma(wv, acc);
                    }
                }
                out[outOff + j] = PredictorMath.sumLanes(acc);
            }
        }
    }

    /** IEEE half precision, 2 bytes per value. */
    public static final class F16 extends BlockedVectorStore {
        private short[][] data;

        F16(int groups, int dim, int maxPositions) {
            super(groups, dim, maxPositions);
            data = new short[groups][0];
        }

        @Override public KeyPrecision precision() { return KeyPrecision.F16; }

        /** The raw array of group g: IEEE binary16 bit patterns (see the class comment for the layout). */
        public short[] array(int g) { return data[g]; }

        @Override void resize(int positions) {
            for (int g = 0; g < groups; g++) data[g] = Arrays.copyOf(data[g], positions * dim);
        }

        @Override public void put(int g, int p, float[] src, int off) {
            short[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            for (int j = 0; j < dim; j++) {
                // Saturate instead of overflowing to infinity: the kernel's conversion handles finite values only.
                float v = Math.max(-65504f, Math.min(65504f, src[off + j]));
                a[base + j * BLOCK] = Float.floatToFloat16(v);
            }
        }

        @Override public void get(int g, int p, float[] dst, int off) {
            short[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            for (int j = 0; j < dim; j++) dst[off + j] = Float.float16ToFloat(a[base + j * BLOCK]);
        }

        /**
         * Lanes s.. of a block row as floats. The Vector API has no half-float conversion, so it is done on the
         * bits: sign-extended to 32 bits and shifted left by 13, the half's exponent and mantissa sit where a
         * float's do (bits 28-30 hold copies of the sign and are cleared), and multiplying by 2^112 re-biases the
         * exponent from 15 to 127, subnormal halves included. Stored values are finite (put saturates).
         */
        private static FloatVector load(short[] a, int offset, int part) {
            ShortVector h = ShortVector.fromArray(S16, a, offset);
            IntVector i = (IntVector) h.convertShape(VectorOperators.S2I, SI, part);
            return i.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
        }

        @Override public void dotScores(int g, float[] q, int qOff, int count, float scale, float[] out) {
            dotScoresSum(g, 1, q, qOff, count, scale, out);
        }

        @Override public void dotScoresSum(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
            checkArgs(count, capacity, out);
            int lanes = S.length(), stride = dim * BLOCK;
            for (int p0 = 0, base = 0; p0 < count; p0 += BLOCK, base += stride) {
                for (int s = 0, part = 0; s < BLOCK && p0 + s < count; s += lanes, part++) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int k = 0; k < nGroups; k++) {
                        short[] a = data[g0 + k];
                        int qk = qOff + k * dim;
                        for (int j = 0; j < dim; j++) {
                            acc = load(a, base + j * BLOCK, part).fma(FloatVector.broadcast(S, q[qk + j]), acc);
                        }
                    }
                    store(acc.mul(scale), out, p0 + s, count);
                }
            }
        }
    }

    /** Signed 8-bit values, one F32 scale (absmax / 127) per vector: dim + 4 bytes per vector. */
    /**
     * The stores of small signed integers with one F32 scale per vector ({@link Q8}, {@link Q4}): a byte array per
     * group ({@link #rowWidth()} bytes per position, blocked as the class comment says) and a parallel array of
     * per-position scales.
     */
    public abstract static sealed class Scaled extends BlockedVectorStore permits Q8, Q4 {
        final byte[][] data;
        final float[][] scales;

        Scaled(int groups, int dim, int maxPositions) {
            super(groups, dim, maxPositions);
            data = new byte[groups][0];
            scales = new float[groups][0];
        }

        /** The packed bytes of group g (see the class comment for the layout). */
        public byte[] array(int g) { return data[g]; }

        /** The per-position scales of group g: a stored value is its integer times scales[p]. */
        public float[] scales(int g) { return scales[g]; }

        @Override void resize(int positions) {
            for (int g = 0; g < groups; g++) {
                data[g] = Arrays.copyOf(data[g], positions * rowWidth());
                scales[g] = Arrays.copyOf(scales[g], positions);
            }
        }

        /** The largest |src[off + j]|, j < dim: what a vector's scale is made from. */
        final float absMax(float[] src, int off) {
            float max = 0f;
            for (int j = 0; j < dim; j++) max = Math.max(max, Math.abs(src[off + j]));
            return max;
        }
    }

    public static final class Q8 extends Scaled {
        Q8(int groups, int dim, int maxPositions) { super(groups, dim, maxPositions); }

        @Override public KeyPrecision precision() { return KeyPrecision.Q8; }

        @Override public void put(int g, int p, float[] src, int off) {
            float max = absMax(src, off);
            byte[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            float inv = max > 0f ? 127f / max : 0f;
            for (int j = 0; j < dim; j++) {
                a[base + j * BLOCK] = (byte) Math.max(-127, Math.min(127, Math.round(src[off + j] * inv)));
            }
            scales[g][p] = max / 127f;
        }

        @Override public void get(int g, int p, float[] dst, int off) {
            byte[] a = data[g];
            int base = (p / BLOCK) * (dim * BLOCK) + p % BLOCK;
            float scale = scales[g][p];
            for (int j = 0; j < dim; j++) dst[off + j] = a[base + j * BLOCK] * scale;
        }

        @Override public void dotScores(int g, float[] q, int qOff, int count, float scale, float[] out) {
            dotScoresSum(g, 1, q, qOff, count, scale, out);
        }

        /**
         * Two runs of lanes (lane groups u and u + 1: the two halves of a block, or two blocks) at a time: two
         * independent multiply-add chains share each broadcast query value (measured: 10% faster on all cores,
         * where the kernel is close to the memory bandwidth).
         */
        @Override public void dotScoresSum(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
            checkArgs(count, capacity, out);
            int lanes = S.length(), perBlock = BLOCK / lanes, stride = dim * BLOCK;
            int runs = (count + lanes - 1) / lanes, u = 0;
            for (; u + 1 < runs; u += 2) {
                int baseA = (u / perBlock) * stride, partA = u % perBlock;
                int baseB = ((u + 1) / perBlock) * stride, partB = (u + 1) % perBlock;
                int pA = u * lanes, pB = pA + lanes;
                FloatVector totalA = FloatVector.zero(S), totalB = FloatVector.zero(S);
                for (int k = 0; k < nGroups; k++) {
                    byte[] a = data[g0 + k];
                    int qk = qOff + k * dim;
                    FloatVector accA = FloatVector.zero(S), accB = FloatVector.zero(S);
                    for (int j = 0; j < dim; j++) {
                        FloatVector qj = FloatVector.broadcast(S, q[qk + j]);
                        accA = ((FloatVector) ByteVector.fromArray(B16, a, baseA + j * BLOCK).convertShape(VectorOperators.B2F, S, partA)).fma(qj, accA);
                        accB = ((FloatVector) ByteVector.fromArray(B16, a, baseB + j * BLOCK).convertShape(VectorOperators.B2F, S, partB)).fma(qj, accB);
                    }
                    float[] sc = scales[g0 + k];
                    totalA = accA.fma(FloatVector.fromArray(S, sc, pA), totalA);
                    totalB = accB.fma(FloatVector.fromArray(S, sc, pB), totalB);
                }
                store(totalA.mul(scale), out, pA, count);
                store(totalB.mul(scale), out, pB, count);
            }
            if (u < runs) {
                int base = (u / perBlock) * stride, part = u % perBlock, p0 = u * lanes;
                FloatVector total = FloatVector.zero(S);
                for (int k = 0; k < nGroups; k++) {
                    byte[] a = data[g0 + k];
                    int qk = qOff + k * dim;
                    FloatVector acc = FloatVector.zero(S);
                    for (int j = 0; j < dim; j++) {
                        FloatVector v = (FloatVector) ByteVector.fromArray(B16, a, base + j * BLOCK).convertShape(VectorOperators.B2F, S, part);
                        acc = v.fma(FloatVector.broadcast(S, q[qk + j]), acc);
                    }
                    total = acc.fma(FloatVector.fromArray(S, scales[g0 + k], p0), total);
                }
                store(total.mul(scale), out, p0, count);
            }
        }
    }

    /**
     * Signed 4-bit values (-7..7), one F32 scale (absmax / 7) per vector: dim / 2 + 4 bytes per vector (12 at d'
     * 16, 60% of {@link Q8}). Byte layout: the blocked layout of the other stores with dimension pairs in place of
     * dimensions, so byte {@code (p / 16) * (pairs * 16) + (j / 2) * 16 + p % 16} (pairs = (dim + 1) / 2) holds
     * dimension j of position p in its low nibble when j is even and dimension j + 1 in its high nibble; both in
     * two's complement.
     */
    public static final class Q4 extends Scaled {
        private final int pairs;

        Q4(int groups, int dim, int maxPositions) {
            super(groups, dim, maxPositions);
            pairs = (dim + 1) / 2;
        }

        @Override public KeyPrecision precision() { return KeyPrecision.Q4; }

        @Override public int rowWidth() { return pairs; }

        @Override public void put(int g, int p, float[] src, int off) {
            float max = absMax(src, off);
            byte[] a = data[g];
            int base = (p / BLOCK) * (pairs * BLOCK) + p % BLOCK;
            float inv = max > 0f ? 7f / max : 0f;
            for (int pair = 0; pair < pairs; pair++) {
                int j = 2 * pair;
                int low = Math.max(-7, Math.min(7, Math.round(src[off + j] * inv)));
                int high = j + 1 < dim ? Math.max(-7, Math.min(7, Math.round(src[off + j + 1] * inv))) : 0;
                a[base + pair * BLOCK] = (byte) ((low & 0xF) | (high << 4));
            }
            scales[g][p] = max / 7f;
        }

        @Override public void get(int g, int p, float[] dst, int off) {
            byte[] a = data[g];
            int base = (p / BLOCK) * (pairs * BLOCK) + p % BLOCK;
            float scale = scales[g][p];
            for (int j = 0; j < dim; j++) {
                byte b = a[base + (j / 2) * BLOCK];
                int nibble = (j & 1) == 0 ? (b << 28) >> 28 : b >> 4;
                dst[off + j] = nibble * scale;
            }
        }

        @Override public void dotScores(int g, float[] q, int qOff, int count, float scale, float[] out) {
            dotScoresSum(g, 1, q, qOff, count, scale, out);
        }

        @Override public void dotScoresSum(int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out) {
            checkArgs(count, capacity, out);
            int lanes = S.length(), stride = pairs * BLOCK;
            boolean odd = (dim & 1) != 0;
            for (int p0 = 0, base = 0; p0 < count; p0 += BLOCK, base += stride) {
                for (int s = 0, part = 0; s < BLOCK && p0 + s < count; s += lanes, part++) {
                    FloatVector total = FloatVector.zero(S);
                    for (int k = 0; k < nGroups; k++) {
                        byte[] a = data[g0 + k];
                        int qk = qOff + k * dim;
                        FloatVector acc = FloatVector.zero(S);
                        for (int pair = 0; pair < pairs; pair++) {
                            // Sign-extended bytes: shifting left by 28 then arithmetically right by 28 gives the
                            // low nibble with its sign, shifting right by 4 the high one.
                            IntVector b = (IntVector) ByteVector.fromArray(B16, a, base + pair * BLOCK).convertShape(VectorOperators.B2I, SI, part);
                            FloatVector low = (FloatVector) b.lanewise(VectorOperators.LSHL, 28).lanewise(VectorOperators.ASHR, 28)
                                    .convert(VectorOperators.I2F, 0);
                            acc = low.fma(FloatVector.broadcast(S, q[qk + 2 * pair]), acc);
                            if (!odd || pair + 1 < pairs) {
                                FloatVector high = (FloatVector) b.lanewise(VectorOperators.ASHR, 4).convert(VectorOperators.I2F, 0);
                                acc = high.fma(FloatVector.broadcast(S, q[qk + 2 * pair + 1]), acc);
                            }
                        }
                        total = acc.fma(FloatVector.fromArray(S, scales[g0 + k], p0 + s), total);
                    }
                    store(total.mul(scale), out, p0 + s, count);
                }
            }
        }
    }

    /** SplitMix64 (Steele, Lea, Flood 2014): small, fast, and the same numbers on every JDK. */
    static final class SplitMix64 {
        private long state;

        SplitMix64(long seed) { state = seed; }

        long nextLong() {
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        /** Uniform in [0, 1) with 24 bits. */
        float nextFloat() { return (nextLong() >>> 40) * 0x1.0p-24f; }

        /** Uniform in [0, 1) with 53 bits. */
        double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }

        /** Standard normal (Box-Muller, one value per call). */
        double nextGaussian() {
            double u = nextDouble(), v = nextDouble();
            return Math.sqrt(-2.0 * StrictMath.log(1.0 - u)) * StrictMath.cos(2 * Math.PI * v);
        }
    }
}
