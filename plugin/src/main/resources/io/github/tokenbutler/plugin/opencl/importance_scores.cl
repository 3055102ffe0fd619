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
// Consecutive work-items (consecutive positions) therefore read consecutive addresses.
// KEY_FORMAT (build option): 0 = float, 1 = half (read with vload_half: core OpenCL, no cl_khr_fp16 needed),
// 2 = signed 8-bit with one float scale per position (keyScales[g * scaleStride + t]), 3 = signed 4-bit, two
// dimensions per byte (dimension pairs in place of dimensions in the layout above: byte (t / 16) * 16 * pairs +
// (j / 2) * 16 + t % 16, pairs = (dPrime + 1) / 2, even j in the low nibble), with scales as for 2.
//
// NDRange: (positions, units, query tokens); work-items past a token's own position do nothing.
#define BLOCK 16

#if KEY_FORMAT == 0
typedef float key_t;
#define LOAD_KEY(ptr, i) ((ptr)[i])
#elif KEY_FORMAT == 1
typedef half key_t;
#define LOAD_KEY(ptr, i) vload_half((i), (ptr))
#elif KEY_FORMAT == 2
typedef char key_t;
#define LOAD_KEY(ptr, i) ((float) (ptr)[i])
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
    int t = get_global_id(0), unit = get_global_id(1), i = get_global_id(2);
    if (t > firstPos + i || unit >= units) return;
#if KEY_FORMAT == 3
    int rowWidth = (dPrime + 1) / 2;
#else
    int rowWidth = dPrime;
#endif
    int blockBase = (t / BLOCK) * BLOCK * rowWidth + t % BLOCK;
    float total = 0.0f;
    for (int h = 0; h < headsPerUnit; h++) {
        int head = unit * headsPerUnit + h, g = firstKeyGroup + head / keyShare;
        __global const key_t* k = keys + (long) g * groupStride + blockBase;
        __global const float* q = queries + (long) (firstQueryRow + i) * queryStride + (long) (firstQueryGroup + head) * dPrime;
        float acc = 0.0f;
#if KEY_FORMAT == 3
        for (int j = 0; j < dPrime; j += 2) {
            // Two's complement nibbles, sign-extended as (n ^ 8) - 8 (shifts of negative values are not portable C).
            int b = (uchar) k[(j / 2) * BLOCK];
            acc = fma(q[j], (float) (((b & 15) ^ 8) - 8), acc);
            if (j + 1 < dPrime) acc = fma(q[j + 1], (float) (((b >> 4) ^ 8) - 8), acc);
        }
#else
        for (int j = 0; j < dPrime; j++) acc = fma(q[j], LOAD_KEY(k, j * BLOCK), acc);
#endif
#if KEY_FORMAT >= 2
        acc *= keyScales[(long) g * scaleStride + t];
#endif
        total += acc;
    }
    scores[((long) i * units + unit) * scoreStride + t] = total * scale;
}
