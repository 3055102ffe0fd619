// The predictor's new importance keys into the device's key store, in the layout and precision of the CPU's
// BlockedVectorStore and bit for bit what its put() stores (the CPU store is the reference; the tests compare
// the bytes): so the keys never travel to the host and back, and a CPU that takes over reads the same keys.
//
// In: src[i * srcStride + g * dPrime + j], value j of group g (layer * modelHeads + head) of token i, the rotated
// importance keys the predictor's step left on the device. Out: position firstPos + i of every group, laid out
// as importance_scores.cl reads it (blocks of 16 positions, dimension-major inside a block), and for 8 and 4 bits
// one float scale per position at keyScales[g * scaleStride + t].
//
// KEY_FORMAT (build option): 0 = float (copied); 1 = half, saturated to +-65504 and rounded to nearest even
// (vstore_half_rte: Float.floatToFloat16); 2 = signed 8-bit, v = round(x * 127 / absmax) in -127..127, scale
// absmax / 127; 3 = signed 4-bit, -7..7 and absmax / 7, two dimensions per byte (even j in the low nibble).
// round() here is Java's Math.round (nearest, ties toward +infinity), and the two divisions must be correctly
// rounded: the host builds this with -cl-fp32-correctly-rounded-divide-sqrt, or with DIVIDE_IN_DOUBLE where the
// device lacks that but has doubles (a quotient of two floats rounded once in double and once to float is the
// correctly rounded float quotient). No contraction of a multiply and an add into an fma: Java rounds each.
// Keys are finite (a NaN would be stored as the CPU stores it only by chance).
//
// NDRange: (groups, tokens).
#pragma OPENCL FP_CONTRACT OFF
#define BLOCK 16

#ifdef DIVIDE_IN_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#define DIVIDE(a, b) ((float) ((double) (a) / (double) (b)))
#else
#define DIVIDE(a, b) ((a) / (b))
#endif

#if KEY_FORMAT == 0
typedef float key_t;
#elif KEY_FORMAT == 1
typedef half key_t;
#elif KEY_FORMAT == 2 || KEY_FORMAT == 3
typedef char key_t;
#else
#error "KEY_FORMAT must be 0 (float), 1 (half), 2 (8-bit) or 3 (4-bit)"
#endif

// Java's Math.round(float) as a float: rint rounds ties to even, and v - rint(v) is exact, so a tie that went
// down shows as exactly 0.5.
float round_half_up(float v) {
    float r = rint(v);
    return v - r == 0.5f ? r + 1.0f : r;
}

__kernel void quantize_keys(__global const float* src, int srcStride, int dPrime, int groups, __global key_t* keys,
                            __global float* keyScales, int groupStride, int scaleStride, int firstPos) {
    int g = get_global_id(0), i = get_global_id(1);
    if (g >= groups) return;
    int t = firstPos + i;
    __global const float* x = src + (long) i * srcStride + (long) g * dPrime;
#if KEY_FORMAT == 3
    int rowWidth = (dPrime + 1) / 2;
#else
    int rowWidth = dPrime;
#endif
    long base = (long) g * groupStride + (long) (t / BLOCK) * BLOCK * rowWidth + t % BLOCK;
#if KEY_FORMAT == 0
    for (int j = 0; j < dPrime; j++) keys[base + j * BLOCK] = x[j];
#elif KEY_FORMAT == 1
    for (int j = 0; j < dPrime; j++) vstore_half_rte(fmax(-65504.0f, fmin(65504.0f, x[j])), base + j * BLOCK, keys);
#else
    float max = 0.0f;
    for (int j = 0; j < dPrime; j++) max = fmax(max, fabs(x[j]));
#if KEY_FORMAT == 2
    float inv = max > 0.0f ? DIVIDE(127.0f, max) : 0.0f;
    for (int j = 0; j < dPrime; j++) keys[base + j * BLOCK] = (char) clamp(round_half_up(x[j] * inv), -127.0f, 127.0f);
    keyScales[(long) g * scaleStride + t] = DIVIDE(max, 127.0f);
#else
    float inv = max > 0.0f ? DIVIDE(7.0f, max) : 0.0f;
    for (int j = 0; j < dPrime; j += 2) {
        int low = (int) clamp(round_half_up(x[j] * inv), -7.0f, 7.0f);
        int high = j + 1 < dPrime ? (int) clamp(round_half_up(x[j + 1] * inv), -7.0f, 7.0f) : 0;
        keys[base + (j / 2) * BLOCK] = (char) ((low & 15) | ((high & 15) << 4));
    }
    keyScales[(long) g * scaleStride + t] = DIVIDE(max, 7.0f);
#endif
#endif
}
