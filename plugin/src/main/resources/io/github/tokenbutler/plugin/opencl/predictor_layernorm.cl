// nn.LayerNorm over each token's row of n values, in place: (v - mean) / sqrt(var + eps) * weight + bias, with the
// biased variance.
//
// NDRange: (local size, tokens), one work-group (a power of two) per token; partial sums meet in local memory.
__kernel void predictor_layernorm(__global float* v, int n, __global const float* weight, __global const float* bias,
                                  float eps, __local float* partial) {
    int t = get_group_id(1), lid = get_local_id(0), size = get_local_size(0);
    __global float* row = v + (long) t * n;
    float s = 0.0f;
    for (int j = lid; j < n; j += size) s += row[j];
    partial[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = size / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] += partial[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float mean = partial[0] / n;
    barrier(CLK_LOCAL_MEM_FENCE);
    s = 0.0f;
    for (int j = lid; j < n; j += size) { float d = row[j] - mean; s += d * d; }
    partial[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = size / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] += partial[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float inv = rsqrt(partial[0] / n + eps);
    for (int j = lid; j < n; j += size) row[j] = (row[j] - mean) * inv * weight[j] + bias[j];
}
