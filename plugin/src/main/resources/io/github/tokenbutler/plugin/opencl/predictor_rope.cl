// Rotary position embedding of the predictor (the "rotate halfDim" convention of Hugging Face's Llama, in which the
// predictor is trained): in each vector of dim values, value i (i < dim/2) pairs with value i + dim/2 and
// (a, b) becomes (a cos - b sin, b cos + a sin). Vector u of token t starts at v[t * stride + u * dim].
// cosTable / sinTable: [t][dim/2], the angles of the token's position, computed on the host in double precision
// (as the CPU path computes them; float angles would lose about 1e-3 rad at position 32K).
//
// NDRange: (dim/2, vectors per token, tokens).
#pragma OPENCL FP_CONTRACT OFF

__kernel void predictor_rope(__global float* v, int stride, int dim, __global const float* cosTable,
                             __global const float* sinTable) {
    int i = get_global_id(0), u = get_global_id(1), t = get_global_id(2), halfDim = dim / 2;
    __global float* p = v + (long) t * stride + (long) u * dim;
    float c = cosTable[t * halfDim + i], s = sinTable[t * halfDim + i];
    float a = p[i], b = p[i + halfDim];
    p[i] = a * c - b * s;
    p[i + halfDim] = b * c + a * s;
}
