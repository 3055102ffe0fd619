// Sparse attention over an index set: one work-group per (group of HEADS query heads, query token) gathers the K
// rows of the selected positions, takes the scaled dot products, a softmax, and the weighted sum of the gathered V
// rows. The selection of head h is the one of its unit (h / headsPerUnit); its K/V head is h / kvGroup.
// K/V caches are the runtime's layout, [position][kvDim].
//
// HEADS (build option: the largest count up to 4 dividing both headsPerUnit and kvGroup; 1 when every query head
// has its own selection): the heads of a group share one selection and one K/V head, so each gathered row serves
// all of them (with gqa=kv on Llama 3, HEADS = 4: a quarter of the gather traffic).
// VEC (build option, the largest of 16, 8, 4, 2, 1 dividing headSize): channels are handled VEC at a time with
// vloadVEC, so every work-item reads whole runs of a row. NDRange (headSize / VEC, S, heads / HEADS * tokens),
// work-group (headSize / VEC, S, 1): work-item (g, s) of group (head group, token).
//  - logits and exponentials: split over all work-items, each takes whole rows (a VEC-wide dot product);
//  - weighted sum: work-item (g, s) adds up channels g*VEC .. g*VEC+VEC-1 over every S-th selected position,
//    and the S partial sums are reduced in local memory.
// Why channels in runs: a CPU driver (PoCL) runs a work-group's work-items one after another; with one channel
// per work-item each of them walked every gathered V row again (measured 4x slower at 16K selected positions).
// The weights pass through `weights` (global; one row per (token, head)) and are left normalized there.
// KV_FORMAT (build option): 0 = the K/V mirror holds floats, 1 = halves, read VEC at a time with vload_halfVEC
// (core OpenCL, no cl_khr_fp16 needed); the arithmetic is float either way.
// vec_t, kv_t, VLOAD, VLOAD_KV, VSTORE and HSUM come from attention_rows.clh, which the host puts in front.

__kernel void sparse_attention(__global const float* q, int qDim, __global const kv_t* keyCache,
                               __global const kv_t* valueCache, int kvDim, int headSize, int kvGroup, int headsPerUnit,
                               int units, __global const int* indices, int indexStride, __global const int* counts,
                               __global float* weights, int weightStride, float scale, __global float* out,
                               __local float* reduce, int nHeads) {
    int groups = nHeads / HEADS;
    int head0 = (get_group_id(2) % groups) * HEADS, token = get_group_id(2) / groups;
    int g = get_local_id(0), channelGroups = get_local_size(0), slice = get_local_id(1), slices = get_local_size(1);
    int lid = slice * channelGroups + g, wg = channelGroups * slices;
    long row = (long) token * units + head0 / headsPerUnit;
    __global const int* idx = indices + row * indexStride;
    int count = counts[row];
    int kvOff = (head0 / kvGroup) * headSize;
    // Head head0 + h: its query at qh + h * headSize, its weight row at w + h * weightStride.
    __global const float* qh = q + (long) token * qDim + head0 * headSize;
    __global float* w = weights + ((long) token * nHeads + head0) * weightStride;

    float localMax[HEADS];
    for (int h = 0; h < HEADS; h++) localMax[h] = -INFINITY;
    for (int j = lid; j < count; j += wg) {
        __global const kv_t* k = keyCache + (long) idx[j] * kvDim + kvOff;
        vec_t acc[HEADS];
        for (int h = 0; h < HEADS; h++) acc[h] = (vec_t) (0.0f);
        for (int c = 0; c < headSize; c += VEC) {
            vec_t key = VLOAD_KV(k + c); // one gather of the row for all HEADS heads
            for (int h = 0; h < HEADS; h++) acc[h] = fma(VLOAD(qh + h * headSize + c), key, acc[h]);
        }
        for (int h = 0; h < HEADS; h++) {
            float dot = HSUM(acc[h]) * scale;
            w[h * weightStride + j] = dot;
            localMax[h] = fmax(localMax[h], dot);
        }
    }
    float max[HEADS];
    for (int h = 0; h < HEADS; h++) {
        reduce[lid] = localMax[h];
        // The global fence: the exponential pass below reads logits other work-items wrote (VEC > 1).
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        // Tree reductions that also work when wg is not a power of two: fold the upper part onto the lower.
        for (int width = wg; width > 1; ) {
            int upper = width - width / 2;
            if (lid < width / 2) reduce[lid] = fmax(reduce[lid], reduce[lid + upper]);
            barrier(CLK_LOCAL_MEM_FENCE);
            width = upper;
        }
        max[h] = reduce[0];
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    float localSum[HEADS];
    for (int h = 0; h < HEADS; h++) localSum[h] = 0.0f;
    // VEC weights at a time: a vector exp, which a CPU driver does not get from one scalar exp per work-item.
    for (int j0 = lid * VEC; j0 < count; j0 += wg * VEC) {
        if (j0 + VEC <= count) {
            for (int h = 0; h < HEADS; h++) {
                __global float* wh = w + h * weightStride + j0;
                vec_t e = exp(VLOAD(wh) - (vec_t) (max[h]));
                VSTORE(e, wh);
                localSum[h] += HSUM(e);
            }
        } else {
            for (int j = j0; j < count; j++) {
                for (int h = 0; h < HEADS; h++) {
                    float e = exp(w[h * weightStride + j] - max[h]);
                    w[h * weightStride + j] = e;
                    localSum[h] += e;
                }
            }
        }
    }
    float sum[HEADS];
    for (int h = 0; h < HEADS; h++) {
        reduce[lid] = localSum[h];
        // The global fence: the weighted sum below reads exponentials other work-items wrote.
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int width = wg; width > 1; ) {
            int upper = width - width / 2;
            if (lid < width / 2) reduce[lid] += reduce[lid + upper];
            barrier(CLK_LOCAL_MEM_FENCE);
            width = upper;
        }
        sum[h] = reduce[0];
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    vec_t acc[HEADS];
    for (int h = 0; h < HEADS; h++) acc[h] = (vec_t) (0.0f);
    __global const kv_t* v0 = valueCache + kvOff + g * VEC;
    for (int j = slice; j < count; j += slices) {
        vec_t value = VLOAD_KV(v0 + (long) idx[j] * kvDim); // one gather of the row for all HEADS heads
        for (int h = 0; h < HEADS; h++) acc[h] = fma((vec_t) (w[h * weightStride + j]), value, acc[h]);
    }
    for (int h = 0; h < HEADS; h++) {
        // reduce holds slices * headSize floats: the partial sums of slice s at [s * headSize, (s+1) * headSize).
        VSTORE(acc[h], reduce + slice * headSize + g * VEC);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c = lid; c < headSize; c += wg) {
            float total = 0.0f;
            for (int s2 = 0; s2 < slices; s2++) total += reduce[s2 * headSize + c];
            out[(long) token * qDim + (head0 + h) * headSize + c] = total / sum[h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int j = lid; j < count; j += wg) {
        for (int h = 0; h < HEADS; h++) w[h * weightStride + j] /= sum[h];
    }
}
