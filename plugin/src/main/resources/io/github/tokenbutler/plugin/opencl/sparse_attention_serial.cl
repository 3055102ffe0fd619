// Sparse attention for CPU devices: the same result as sparse_attention.cl, computed by one work-item per (group of
// HEADS query heads, query token) with plain loops, as the CPU's SparseAttentionKernel does: the logits of every
// selected row, a softmax, then the weighted sum of the selected V rows, each gathered row serving the HEADS heads.
// The selection of head h is the one of its unit (h / headsPerUnit); its K/V head is h / kvGroup.
// K/V caches are the runtime's layout, [position][kvDim].
//
// Why a second kernel: a CPU driver (PoCL) runs a work-group's work-items one after another, and sparse_attention.cl's
// split of each row list over 128 work-items, with tree reductions between barriers, made it walk the gathered rows
// in many short loops. A core walks them faster in one loop, and the K/V heads of a layer already give the driver
// enough work-items to fill its cores.
// Rows are gathered in batches of AHEAD: at the start of each batch the next batch's cache lines are touched in one
// tight loop, so that they arrive together while this batch is computed (a scattered row is otherwise a cache miss
// the core waits for). On the 1B shape at 8K, 75% sparse, gqa=kv, one layer's K/V out of cache: 2.4-2.8 ms with
// sparse_attention.cl, 2.3 ms here without the touches, 0.9 ms with them (PoCL 3.1, 2 cores).
//
// VEC, KV_FORMAT and HEADS (build options): as in sparse_attention.cl (attention_rows.clh).
// RUN (build option): vectors per head kept in the weighted sum's accumulators, a divisor of headSize / VEC; the
// weighted sum walks the selected V rows once per run of RUN * VEC channels (once for a head size of 64).
// The weights pass through `weights` (global; one row per (token, head)), which is scratch here: it is left holding
// the exponentials.
// NDRange (heads / HEADS * tokens), work-groups of one work-item.
// vec_t, kv_t, VLOAD, VLOAD_KV, VSTORE and HSUM come from attention_rows.clh, which the host puts in front.

// Rows per gather batch (16 and 32 measured the same).
#define AHEAD 16
#ifndef RUN
#define RUN 1
#endif

#if HEADS == 4 && VEC == 16
// The lane sums of four heads' products, sharing their adds: halves, quarters, then pairs across heads.
inline float4 hsum_heads(float16 a0, float16 a1, float16 a2, float16 a3) {
    float8 b0 = a0.lo + a0.hi, b1 = a1.lo + a1.hi, b2 = a2.lo + a2.hi, b3 = a3.lo + a3.hi;
    float4 c0 = b0.lo + b0.hi, c1 = b1.lo + b1.hi, c2 = b2.lo + b2.hi, c3 = b3.lo + b3.hi;
    float4 d01 = (float4) (c0.s01 + c0.s23, c1.s01 + c1.s23), d23 = (float4) (c2.s01 + c2.s23, c3.s01 + c3.s23);
    return (float4) (d01.s02 + d01.s13, d23.s02 + d23.s13);
}
#endif

// A load of each cache line of bytes [p, p + bytes), combined into bits nobody needs: the line is then on its way
// while the rows before it are computed.
inline uint touch(__global const kv_t* p, int bytes) {
    __global const uchar* b = (__global const uchar*) p;
    uint bits = 0u;
    for (int at = 0; at < bytes; at += 64) bits |= b[at];
    return bits;
}

__kernel void sparse_attention_serial(__global const float* q, int qDim, __global const kv_t* keyCache,
                                      __global const kv_t* valueCache, int kvDim, int headSize, int kvGroup,
                                      int headsPerUnit, int units, __global const int* indices, int indexStride,
                                      __global const int* counts, __global float* weights, int weightStride,
                                      float scale, __global float* out, int nHeads) {
    int groups = nHeads / HEADS;
    int head0 = (get_global_id(0) % groups) * HEADS, token = get_global_id(0) / groups;
    long row = (long) token * units + head0 / headsPerUnit;
    __global const int* idx = indices + row * indexStride;
    int count = counts[row];
    int kvOff = (head0 / kvGroup) * headSize;
    // Head head0 + h: its query at qh + h * headSize, its weight row at w + h * weightStride.
    __global const float* qh = q + (long) token * qDim + head0 * headSize;
    __global float* w = weights + ((long) token * nHeads + head0) * weightStride;

    int rowBytes = headSize * (int) sizeof(kv_t), runBytes = RUN * VEC * (int) sizeof(kv_t);
    uint touched = 0u;
    float max[HEADS];
    for (int h = 0; h < HEADS; h++) max[h] = -INFINITY;
    for (int j = 0; j < count; j++) {
        __global const kv_t* k = keyCache + (long) idx[j] * kvDim + kvOff;
        if (j % AHEAD == 0) {
            for (int a = j + AHEAD; a < min(count, j + 2 * AHEAD); a++) touched |= touch(keyCache + (long) idx[a] * kvDim + kvOff, rowBytes);
        }
        vec_t acc[HEADS];
        for (int h = 0; h < HEADS; h++) acc[h] = (vec_t) (0.0f);
        for (int c = 0; c < headSize; c += VEC) {
            vec_t key = VLOAD_KV(k + c); // one gather of the row for all HEADS heads
            for (int h = 0; h < HEADS; h++) acc[h] = fma(VLOAD(qh + h * headSize + c), key, acc[h]);
        }
#if HEADS == 4 && VEC == 16
        float4 dots = hsum_heads(acc[0], acc[1], acc[2], acc[3]) * scale;
        w[j] = dots.s0;
        w[weightStride + j] = dots.s1;
        w[2 * weightStride + j] = dots.s2;
        w[3 * weightStride + j] = dots.s3;
        max[0] = fmax(max[0], dots.s0);
        max[1] = fmax(max[1], dots.s1);
        max[2] = fmax(max[2], dots.s2);
        max[3] = fmax(max[3], dots.s3);
#else
        for (int h = 0; h < HEADS; h++) {
            float dot = HSUM(acc[h]) * scale;
            w[h * weightStride + j] = dot;
            max[h] = fmax(max[h], dot);
        }
#endif
    }

    float sum[HEADS];
    for (int h = 0; h < HEADS; h++) {
        __global float* wh = w + h * weightStride;
        vec_t partial = (vec_t) (0.0f);
        int j = 0;
        // VEC weights at a time: a vector exp
        for (; j + VEC <= count; j += VEC) {
            vec_t e = exp(VLOAD(wh + j) - (vec_t) (max[h]));
            VSTORE(e, wh + j);
            partial += e;
        }
        float total = HSUM(partial);
        for (; j < count; j++) {
            float e = exp(wh[j] - max[h]);
            wh[j] = e;
            total += e;
        }
        sum[h] = total;
    }

    for (int c0 = 0; c0 < headSize; c0 += RUN * VEC) {
        vec_t acc[HEADS][RUN];
        for (int h = 0; h < HEADS; h++) for (int r = 0; r < RUN; r++) acc[h][r] = (vec_t) (0.0f);
        __global const kv_t* v0 = valueCache + kvOff + c0;
        for (int j = 0; j < count; j++) {
            __global const kv_t* v = v0 + (long) idx[j] * kvDim; // one gather of the row for all HEADS heads
            if (j % AHEAD == 0) {
                for (int a = j + AHEAD; a < min(count, j + 2 * AHEAD); a++) touched |= touch(v0 + (long) idx[a] * kvDim, runBytes);
            }
            for (int r = 0; r < RUN; r++) {
                vec_t value = VLOAD_KV(v + r * VEC);
                for (int h = 0; h < HEADS; h++) acc[h][r] = fma((vec_t) (w[h * weightStride + j]), value, acc[h][r]);
            }
        }
        for (int h = 0; h < HEADS; h++) {
            __global float* o = out + (long) token * qDim + (head0 + h) * headSize + c0;
            for (int r = 0; r < RUN; r++) {
                float part[VEC];
                VSTORE(acc[h][r], part);
                for (int c = 0; c < VEC; c++) o[r * VEC + c] = part[c] / sum[h];
            }
        }
    }
    // A use of the touched bits that never happens (count is not negative), so that the compiler keeps the loads.
    if (touched == 0u && count < 0) w[0] = 0.0f;
}
