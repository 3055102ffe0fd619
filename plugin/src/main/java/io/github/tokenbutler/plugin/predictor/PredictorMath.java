package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float kernels of the predictor's forward pass. Each vectorized kernel has its plain loop beside it
 * ({@code ...Plain}); {@code ReferencePredictor} (test sources) checks the whole forward pass against float64 arithmetic.
 *
 * <p>Results are deterministic: the same inputs give the same bits whether a method runs interpreted or
 * compiled, on one thread or many. The Vector API's float reduceLanes(ADD) and lanewise EXP may differ between
 * the intrinsic and the Java fallback, and Math.exp/pow/sin/cos between the JIT intrinsic and the interpreter,
 * so sums of lanes use a fixed tree ({@link #sumLanes}), exponentials a fixed polynomial ({@link #expNonPositive})
 * and scalar transcendental functions StrictMath.
 */
public final class PredictorMath {
    private PredictorMath() {}

    /** The preferred float species, at most 16 lanes (one block of {@link BlockedVectorStore}). */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.length() <= 16
            ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_512;
    // Lane i swaps with lane i ^ k: adding a vector to such a rearrangement halves the lanes left to sum.
    private static final VectorShuffle<Float> XOR8 = F.length() >= 16 ? VectorShuffle.fromOp(F, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> XOR4 = F.length() >= 8 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> XOR2 = F.length() >= 4 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> XOR1 = F.length() >= 2 ? VectorShuffle.fromOp(F, i -> i ^ 1) : null;

    /** Sum of the lanes of v in a fixed order (a pairwise tree), unlike reduceLanes(ADD). */
    static float sumLanes(FloatVector v) {
        if (XOR8 != null) v = v.add(v.rearrange(XOR8));
        if (XOR4 != null) v = v.add(v.rearrange(XOR4));
        if (XOR2 != null) v = v.add(v.rearrange(XOR2));
        if (XOR1 != null) v = v.add(v.rearrange(XOR1));
        return v.lane(0);
    }

    // exp(x) = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 in [-0.35, 0.35] (ln 2 split in two for
    // precision, Cody and Waite), e^r by its Taylor polynomial of degree 7 (error below 6e-9 relative).
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer, kept in the low mantissa bits. */
    private static final float ROUNDING = 12582912f;
    private static final int ROUNDING_BITS = 0x4B400000;
    /** Below this, e^x is under the smallest normal float; the result is 0. */
    private static final float EXP_MIN = -87f;
    private static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720, C7 = 1f / 5040;

    /** e^x for x <= 0, to a few ulp, lane by lane. */
    static FloatVector expNonPositive(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN);
        FloatVector t = xc.fma(LOG2E, ROUNDING);
        FloatVector n = t.sub(ROUNDING);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = r.fma(C7, C6).fma(r, FloatVector.broadcast(F, C5)).fma(r, FloatVector.broadcast(F, C4))
                .fma(r, FloatVector.broadcast(F, C3)).fma(r, FloatVector.broadcast(F, C2))
                .fma(r, FloatVector.broadcast(F, 1f)).fma(r, FloatVector.broadcast(F, 1f));
        IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(ROUNDING_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats()).blend(0f, x.lt(EXP_MIN));
    }

    /** The scalar twin of {@link #expNonPositive}: the same operations, so the same bits. */
    static float expNonPositive(float x) {
        if (x < EXP_MIN) return 0f;
        float t = Math.fma(x, LOG2E, ROUNDING);
        float n = t - ROUNDING;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, C7, C6);
        p = Math.fma(p, r, C5);
        p = Math.fma(p, r, C4);
        p = Math.fma(p, r, C3);
        p = Math.fma(p, r, C2);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - (ROUNDING_BITS - 127)) << 23);
    }
    /**
     * Multiply-adds per share when a matrix product is split over the runtime's threads (Llama3.Parallel: the
     * predictor runs inside the model's forward pass, on the same threads, not on a pool of its own).
     */
    private static final long PARALLEL_GRAIN = 1L << 18;

    /** Sum of a[aOff+i] * b[bOff+i], i < n, with two vector accumulators. */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int step = F.length();
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * step <= n; i += 2 * step) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + step).fma(FloatVector.fromArray(F, b, bOff + i + step), acc1);
        }
        for (; i + step <= n; i += step) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    static float dotPlain(float[] a, int aOff, float[] b, int bOff, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    /**
     * out[t][r] = x[t] · w[r] (+ bias[r]) for t < n, r < outDim: x is [n][inDim], w is [outDim][inDim] (the
     * layout of a PyTorch Linear weight and of a GGUF tensor of shape [inDim, outDim]), out is [n][outDim].
     * Rows of w are the outer loop so each stays in cache while every token uses it.
     */
    static void matmul(float[] x, int n, int inDim, float[] w, float[] bias, int outDim, float[] out) {
        int rowsPerShare = (int) Math.max(1, PARALLEL_GRAIN / ((long) n * inDim));
        Parallel.forRange(outDim, rowsPerShare, (from, to, worker) -> matmulRows(x, n, inDim, w, bias, outDim, out, from, to));
    }

    private static void matmulRows(float[] x, int n, int inDim, float[] w, float[] bias, int outDim, float[] out, int from, int to) {
        for (int r = from; r < to; r++) {
            float b = bias == null ? 0f : bias[r];
            for (int t = 0; t < n; t++) out[t * outDim + r] = dot(x, t * inDim, w, r * inDim, inDim) + b;
        }
    }

    /**
     * {@link #matmul} with w held as half-precision bits ([outDim][inDim]): bit for bit matmul over the widened
     * weights, reading half the weight bytes. With 16 float lanes the bits are widened as they are loaded; other
     * vector widths widen each row into a float row first (the plain loop compiles to the CPU's conversion).
     */
    static void matmul(float[] x, int n, int inDim, short[] w, float[] bias, int outDim, float[] out) {
        int rowsPerShare = (int) Math.max(1, PARALLEL_GRAIN / ((long) n * inDim));
        Parallel.forRange(outDim, rowsPerShare, (from, to, worker) -> {
            float[] row = F.length() == HALF_LANES ? null : new float[inDim];
            for (int r = from; r < to; r++) {
                float b = bias == null ? 0f : bias[r];
                if (row == null) {
                    for (int t = 0; t < n; t++) out[t * outDim + r] = dotHalf(x, t * inDim, w, r * inDim, inDim) + b;
                } else {
                    for (int i = 0; i < inDim; i++) row[i] = Float.float16ToFloat(w[r * inDim + i]);
                    for (int t = 0; t < n; t++) out[t * outDim + r] = dot(x, t * inDim, row, 0, inDim) + b;
                }
            }
        });
    }

    private static final int HALF_LANES = 16;
    private static final VectorSpecies<Short> HALVES = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> HALF_WIDE = IntVector.SPECIES_512;

    /**
     * {@link #dot} of a with half-precision bits h, widened on the fly, in dot's order of operations (F has 16
     * lanes). The Vector API has no half-float conversion, so it is done on the bits as BlockedVectorStore.F16
     * does (sign-extended, shifted by 13, exponent re-biased by 2^112): exact for finite halves.
     */
    private static float dotHalf(float[] a, int aOff, short[] h, int hOff, int n) {
        // widened inline: a helper returning the vector, when C2 does not inline it, boxes every vector
        int step = HALF_LANES;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i + 2 * step <= n; i += 2 * step) {
            IntVector b0 = (IntVector) ShortVector.fromArray(HALVES, h, hOff + i).convertShape(VectorOperators.S2I, HALF_WIDE, 0);
            IntVector b1 = (IntVector) ShortVector.fromArray(HALVES, h, hOff + i + step).convertShape(VectorOperators.S2I, HALF_WIDE, 0);
            FloatVector w0 = b0.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
            FloatVector w1 = b1.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(w0, acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + step).fma(w1, acc1);
        }
        for (; i + step <= n; i += step) {
            IntVector b0 = (IntVector) ShortVector.fromArray(HALVES, h, hOff + i).convertShape(VectorOperators.S2I, HALF_WIDE, 0);
            FloatVector w0 = b0.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(w0, acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) s += a[aOff + i] * Float.float16ToFloat(h[hOff + i]);
        return s;
    }

    static void matmulPlain(float[] x, int n, int inDim, float[] w, float[] bias, int outDim, float[] out) {
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < outDim; r++) {
                out[t * outDim + r] = dotPlain(x, t * inDim, w, r * inDim, inDim) + (bias == null ? 0f : bias[r]);
            }
        }
    }

    /**
     * The unnormalized softmax of s[0..count): s[p] becomes exp(s[p] - max) and the sum is returned (the caller
     * divides once at the end instead of once per position).
     */
    static float softmaxUnnormalized(float[] s, int count) {
        int step = F.length(), bound = F.loopBound(count);
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i < bound; i += step) mv = mv.max(FloatVector.fromArray(F, s, i));
        float max = mv.reduceLanes(VectorOperators.MAX);   // exact in any order
        for (; i < count; i++) max = Math.max(max, s[i]);
        FloatVector sum = FloatVector.zero(F);
        for (i = 0; i < bound; i += step) {
            FloatVector e = expNonPositive(FloatVector.fromArray(F, s, i).sub(max));
            e.intoArray(s, i);
            sum = sum.add(e);
        }
        float total = sumLanes(sum);
        for (; i < count; i++) {
            s[i] = expNonPositive(s[i] - max);
            total += s[i];
        }
        return total;
    }

    static float softmaxUnnormalizedPlain(float[] s, int count) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) max = Math.max(max, s[i]);
        float total = 0f;
        for (int i = 0; i < count; i++) {
            s[i] = expNonPositive(s[i] - max);
            total += s[i];
        }
        return total;
    }

    /** nn.LayerNorm over v[off..off+n): (v - mean) / sqrt(var + eps) * weight + bias, biased variance. */
    static void layerNorm(float[] v, int off, int n, float[] weight, float[] bias, float eps) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += v[off + i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) { double d = v[off + i] - mean; var += d * d; }
        var /= n;
        float inv = (float) (1.0 / Math.sqrt(var + eps));
        float m = (float) mean;
        for (int i = 0; i < n; i++) v[off + i] = (v[off + i] - m) * inv * weight[i] + bias[i];
    }

    /** nn.GELU() (the exact, erf form): x * (1 + erf(x / sqrt 2)) / 2. */
    static float gelu(float x) {
        return (float) (0.5 * x * (1.0 + erf(x / Math.sqrt(2.0))));
    }

    /** nn.SiLU(): x * sigmoid(x). */
    static float silu(float x) {
        return (float) (x / (1.0 + StrictMath.exp(-x)));
    }

    /**
     * The error function to about 1e-14: its Maclaurin series below |x| = 3 (all terms shrink after the ninth,
     * cancellation costs about three digits), 1 - erfc(x) from the continued fraction of erfc above.
     */
    static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double ax = Math.abs(x);
        if (ax < 3.0) {
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 100; n++) {
                term *= -x2 / n;                     // (-1)^n x^(2n+1) / n!
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
            }
            return 2.0 / Math.sqrt(Math.PI) * sum;
        }
        if (ax > 6.0) return Math.copySign(1.0, x);  // erfc(6) < 2.2e-17
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up.
        double f = ax;
        for (int k = 60; k >= 1; k--) f = ax + (k / 2.0) / f;
        double erfc = StrictMath.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        return Math.copySign(1.0 - erfc, x);
    }

    /**
     * cos and sin of the rotary angles of one position for vectors of {@code dim} values: angle i (i < dim/2) is
     * pos * theta^(-2i/dim), computed in double so long positions keep their precision.
     */
    public static void ropeAngles(int pos, int dim, double theta, float[] cos, float[] sin) {
        for (int i = 0; i < dim / 2; i++) {
            double angle = pos * StrictMath.pow(theta, -2.0 * i / dim);
            cos[i] = (float) StrictMath.cos(angle);
            sin[i] = (float) StrictMath.sin(angle);
        }
    }

    /** {@link #ropeAngles} with the frequencies of a {@link RopeScaling} (null: unscaled, the same as above). */
    public static void ropeAngles(int pos, int dim, double theta, RopeScaling scaling, float[] cos, float[] sin) {
        if (scaling == null) {
            ropeAngles(pos, dim, theta, cos, sin);
            return;
        }
        for (int i = 0; i < dim / 2; i++) {
            double angle = pos * scaling.frequency(i, dim, theta);
            cos[i] = (float) StrictMath.cos(angle);
            sin[i] = (float) StrictMath.sin(angle);
        }
    }

    /**
     * Rotates v[off..off+dim) in the "rotate half" convention of Hugging Face's Llama (the predictor is trained
     * there): value i pairs with value i + dim/2, (a, b) becomes (a cos - b sin, b cos + a sin).
     */
    static void applyRope(float[] v, int off, int dim, float[] cos, float[] sin) { applyRope(v, off, dim, cos, sin, 0); }

    /** {@link #applyRope} with the angles at cos[angleOff..], sin[angleOff..] (a table of several positions). */
    static void applyRope(float[] v, int off, int dim, float[] cos, float[] sin, int angleOff) {
        int half = dim / 2;
        for (int i = 0; i < half; i++) {
            float a = v[off + i], b = v[off + i + half];
            v[off + i] = a * cos[angleOff + i] - b * sin[angleOff + i];
            v[off + i + half] = b * cos[angleOff + i] + a * sin[angleOff + i];
        }
    }
}
