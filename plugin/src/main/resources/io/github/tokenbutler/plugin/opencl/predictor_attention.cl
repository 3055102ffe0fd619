// The predictor's own causal attention (no output projection): for token t of the call (position firstPos + t)
// and head h, softmax(q . k_p * scale) over positions p <= firstPos + t, times v_p. The caches hold every position
// up to the call's last, [position][projDim], head h's values at h * headDim (the new tokens' rows are copied in
// before this runs). scores is scratch, [tokens][heads][scoreStride].
//
// HEAD_DIM (build option): the predictor's attention head size; each work-item keeps that many sums.
//
// NDRange: (heads * local size, tokens), one work-group (a power of two) per (head, token).
__kernel void predictor_attention(__global const float* q, __global const float* keyCache, __global const float* valueCache,
                                  int projDim, int headDim, int firstPos, float scale, __global float* scores,
                                  int scoreStride, __global float* out, __local float* partial) {
    // headDim equals HEAD_DIM (the host builds one variant per head size); the argument keeps the signature plain.
    int h = get_group_id(0), t = get_group_id(1), heads = get_num_groups(0);
    int lid = get_local_id(0), size = get_local_size(0), count = firstPos + t + 1;
    __global const float* qt = q + (long) t * projDim + h * headDim;
    __global float* s = scores + ((long) t * heads + h) * scoreStride;

    float max = -INFINITY;
    for (int p = lid; p < count; p += size) {
        __global const float* k = keyCache + (long) p * projDim + h * headDim;
        float d = 0.0f;
        for (int j = 0; j < headDim; j++) d = fma(qt[j], k[j], d);
        d *= scale;
        s[p] = d;
        max = fmax(max, d);
    }
    partial[lid] = max;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = size / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] = fmax(partial[lid], partial[lid + span]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    max = partial[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    float sum = 0.0f;
    for (int p = lid; p < count; p += size) {
        float e = exp(s[p] - max);
        s[p] = e;
        sum += e;
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = size / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] += partial[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float inv = 1.0f / partial[0];
    // The weights were written by other work-items of this group to global memory.
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);

    // One pass over the value rows, each read whole (a pass per channel would fetch a cache line per value).
    float acc[HEAD_DIM];
    for (int j = 0; j < HEAD_DIM; j++) acc[j] = 0.0f;
    for (int p = lid; p < count; p += size) {
        float wp = s[p];
        __global const float* v = valueCache + (long) p * projDim + h * HEAD_DIM;
        for (int j = 0; j < HEAD_DIM; j++) acc[j] = fma(wp, v[j], acc[j]);
    }
    for (int j = 0; j < HEAD_DIM; j++) {
        partial[lid] = acc[j];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int span = size / 2; span > 0; span >>= 1) {
            if (lid < span) partial[lid] += partial[lid + span];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (lid == 0) out[(long) t * projDim + h * headDim + j] = partial[0] * inv;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
