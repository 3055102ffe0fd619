// Importance scoring: the predictor's importance query of each query token against every cached importance key
// of one base-model layer, for every selection unit (a query head, or with gqa=kv the query heads of a KV head,
// whose logits are summed and scaled by scale = 1/(sqrt(d') * heads)).
//
// Query head h of a unit (h = unit * headsPerUnit + j) reads query group firstQueryGroup + h of its token's row and
// key group firstKeyGroup + h / keyShare. v1 keeps a key per query head (keyShare 1, both groups layer * heads + h);
// v2 keeps one per KV head, which keyShare query heads share (key group layer * kvHeads + h / keyShare).
//
// Keys are stored as the CPU's BlockedVectorStore stores them (so appends copy blocks verbatim): per group g,
// positions in blocks of 16, inside a block dimension-major:
//   value j of position t at g * groupStride + (t / 16) * 16 * dPrime + j * 16 + t % 16.
// A work-item takes one block: value j of its 16 positions is one 16-wide vector load, so the block's logits are
// 16-wide multiply-adds of a broadcast query value. Why not a work-item per position: a CPU driver (PoCL) runs a
// work-group's items one after another and left that form scalar (0.8-1.0 ms a layer in a decode step at 8K on
// the 1B shape with v2 keys in Q8, against 0.2 ms for this one); a GPU reads the block's 16 contiguous values in
// one load either way.
// KEY_FORMAT (build option): 0 = float, 1 = half (read with vload_half: core OpenCL, no cl_khr_fp16 needed),
// 2 = signed 8-bit with one float scale per position (keyScales[g * scaleStride + t]), 3 = signed 4-bit, two
// dimensions per byte (dimension pairs in place of dimensions in the layout above: byte (t / 16) * 16 * pairs +
// (j / 2) * 16 + t % 16, pairs = (dPrime + 1) / 2, even j in the low nibble), with scales as for 2.
//
// NDRange: (blocks of 16 positions, units, query tokens); positions past a token's own are not written.
#define BLOCK 16

#if KEY_FORMAT == 0
typedef float key_t;
#define LOAD_BLOCK(ptr, j) vload16((j), (ptr))
#elif KEY_FORMAT == 1
typedef half key_t;
#define LOAD_BLOCK(ptr, j) vload_half16((j), (ptr))
#elif KEY_FORMAT == 2
typedef char key_t;
#define LOAD_BLOCK(ptr, j) convert_float16(vload16((j), (ptr)))
#elif KEY_FORMAT == 3
typedef char key_t;
#else
#error "KEY_FORMAT must be 0 (float), 1 (half), 2 (8-bit) or 3 (4-bit)"
#endif

__kernel void importance_scores(__global const key_t* keys, __global const float* keyScales, int groupStride,
                                int scaleStride, int dPrime, __global const float* queries, int queryStride,
                                int firstQueryRow, int firstQueryGroup, int firstKeyGroup, int keyShare, int headsPerUnit,
                                float scale, int firstPos,
                                int units, int scoreStride, __global float* scores) {
    int block = get_global_id(0), unit = get_global_id(1), i = get_global_id(2);
    int t0 = block * BLOCK, last = firstPos + i; // this token's positions are 0..last
    if (t0 > last || unit >= units) return;
#if KEY_FORMAT == 3
    int rowWidth = (dPrime + 1) / 2;
#else
    int rowWidth = dPrime;
#endif
    float16 total = (float16) (0.0f);
    for (int h = 0; h < headsPerUnit; h++) {
        int head = unit * headsPerUnit + h, g = firstKeyGroup + head / keyShare;
        __global const key_t* k = keys + (long) g * groupStride + (long) block * BLOCK * rowWidth;
        __global const float* q = queries + (long) (firstQueryRow + i) * queryStride + (long) (firstQueryGroup + head) * dPrime;
        float16 acc = (float16) (0.0f);
#if KEY_FORMAT == 3
        for (int j = 0; j < dPrime; j += 2) {
            // Two's complement nibbles, sign-extended as (n ^ 8) - 8 (shifts of negative values are not portable C).
            int16 b = convert_int16(vload16(j / 2, (__global const uchar*) k));
            acc = fma((float16) (q[j]), convert_float16(((b & 15) ^ 8) - 8), acc);
            if (j + 1 < dPrime) acc = fma((float16) (q[j + 1]), convert_float16(((b >> 4) ^ 8) - 8), acc);
        }
#else
        for (int j = 0; j < dPrime; j++) acc = fma((float16) (q[j]), LOAD_BLOCK(k, j), acc);
#endif
#if KEY_FORMAT >= 2
        acc *= vload16(0, keyScales + (long) g * scaleStride + t0);
#endif
        total += acc;
    }
    total *= scale;
    __global float* out = scores + ((long) i * units + unit) * scoreStride + t0;
    if (t0 + BLOCK - 1 <= last) {
        vstore16(total, 0, out);
    } else {
        // The token's own position ends inside this block: the rest of the row may be shorter than the block.
        float part[BLOCK];
        vstore16(total, 0, part);
        for (int j = 0; j <= last - t0; j++) out[j] = part[j];
    }
}
