// Sparse attention over an index set: one work-group per (query head, query token) gathers the K rows of the
// selected positions, takes the scaled dot products, a softmax, and the weighted sum of the gathered V rows.
// The selection of head h is the one of its unit (h / headsPerUnit); its K/V head is h / kvGroup.
// K/V caches are the runtime's layout, [position][kvDim]; KV_HALF=1 (build option) reads them as half.
//
// Work-group size = headSize * S: the logits and exponentials are split over all work-items; in the weighted
// sum, work-item (c, s) = (lid % headSize, lid / headSize) adds up dimension c over every S-th selected position
// (so neighbouring work-items read neighbouring V values), and the S partial sums are reduced in local memory.
// The weights pass through `weights` (global; one row per (token, head)), which also keeps them for the caller.

#if KV_HALF
typedef half kv_t;
#define LOAD_KV(ptr, i) vload_half((i), (ptr))
#else
typedef float kv_t;
#define LOAD_KV(ptr, i) ((ptr)[i])
#endif

__kernel void sparse_attention(__global const float* q, int qDim, __global const kv_t* keyCache,
                               __global const kv_t* valueCache, int kvDim, int headSize, int kvGroup, int headsPerUnit,
                               int units, __global const int* indices, int indexStride, __global const int* counts,
                               __global float* weights, int weightStride, float scale, __global float* out,
                               __local float* reduce) {
    int head = get_group_id(0), token = get_group_id(1), nHeads = get_num_groups(0);
    int lid = get_local_id(0), wg = get_local_size(0);
    long row = (long) token * units + head / headsPerUnit;
    __global const int* idx = indices + row * indexStride;
    int count = counts[row];
    int kvOff = (head / kvGroup) * headSize;
    __global const float* qh = q + (long) token * qDim + head * headSize;
    __global float* w = weights + ((long) token * nHeads + head) * weightStride;

    float localMax = -INFINITY;
    for (int j = lid; j < count; j += wg) {
        __global const kv_t* k = keyCache + (long) idx[j] * kvDim + kvOff;
        float dot = 0.0f;
        for (int c = 0; c < headSize; c++) dot = fma(qh[c], LOAD_KV(k, c), dot);
        dot *= scale;
        w[j] = dot;
        localMax = fmax(localMax, dot);
    }
    reduce[lid] = localMax;
    barrier(CLK_LOCAL_MEM_FENCE);
    // Tree reductions that also work when wg is not a power of two: fold the upper part onto the lower.
    for (int width = wg; width > 1; ) {
        int upper = width - width / 2;
        if (lid < width / 2) reduce[lid] = fmax(reduce[lid], reduce[lid + upper]);
        barrier(CLK_LOCAL_MEM_FENCE);
        width = upper;
    }
    float max = reduce[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    float localSum = 0.0f;
    for (int j = lid; j < count; j += wg) {
        float e = exp(w[j] - max);
        w[j] = e;
        localSum += e;
    }
    reduce[lid] = localSum;
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    for (int width = wg; width > 1; ) {
        int upper = width - width / 2;
        if (lid < width / 2) reduce[lid] += reduce[lid + upper];
        barrier(CLK_LOCAL_MEM_FENCE);
        width = upper;
    }
    float sum = reduce[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    int slices = wg / headSize, c = lid % headSize, slice = lid / headSize;
    float acc = 0.0f;
    if (slice < slices) {
        for (int j = slice; j < count; j += slices) {
            acc = fma(w[j], LOAD_KV(valueCache + (long) idx[j] * kvDim + kvOff, c), acc);
        }
    }
    reduce[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < headSize) {
        float total = 0.0f;
        for (int s2 = 0; s2 < slices; s2++) total += reduce[s2 * headSize + lid];
        out[(long) token * qDim + head * headSize + lid] = total / sum;
    }
    // The normalized weights, for callers that keep them (H2O-style accumulation, tests).
    for (int j = lid; j < count; j += wg) w[j] = w[j] / sum;
}
