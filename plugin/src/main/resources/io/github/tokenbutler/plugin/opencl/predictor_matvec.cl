// The predictor's matrix products, one token row at a time: out[t][r] = act(w[r] . x[t] + bias[r]) + residual[t][r]
// for r < outDim, t < tokens. w is row-major [outDim][inDim] (a PyTorch Linear weight, as PredictorWeights keeps it).
// ACT (build option): 0 none, 1 GELU (the exact erf form, nn.GELU()), 2 SiLU (x * sigmoid(x)).
// hasBias / hasResidual: 0 or 1; when 0 the buffer passed is not read.
//
// NDRange: (outDim * local size, tokens), work-groups of (a power of two, 1): the work-items of a group share one
// row, each sums a strided part of it, and a tree in local memory adds the parts.
#pragma OPENCL FP_CONTRACT OFF

#if ACT == 0
#define ACTIVATE(v) (v)
#elif ACT == 1
#define ACTIVATE(v) (0.5f * (v) * (1.0f + erf((v) * 0.70710678118654752f)))
#elif ACT == 2
#define ACTIVATE(v) ((v) / (1.0f + exp(-(v))))
#else
#error "ACT must be 0 (none), 1 (GELU) or 2 (SiLU)"
#endif

__kernel void predictor_matvec(__global const float* x, int inDim, __global const float* w, __global const float* bias,
                               int hasBias, __global const float* residual, int hasResidual, int outDim,
                               __global float* out, __local float* partial) {
    int r = get_group_id(0), t = get_global_id(1), lid = get_local_id(0), size = get_local_size(0);
    __global const float* row = w + (long) r * inDim;
    __global const float* xt = x + (long) t * inDim;
    float s = 0.0f;
    for (int j = lid; j < inDim; j += size) s = fma(row[j], xt[j], s);
    partial[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = size / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] += partial[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        float v = partial[0];
        if (hasBias) v += bias[r];
        v = ACTIVATE(v);
        if (hasResidual) v += residual[(long) t * outDim + r];
        out[(long) t * outDim + r] = v;
    }
}
