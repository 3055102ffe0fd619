// Top-k selection for CPU devices: the same selection as top_k_select.cl (and the CPU's TokenSelector +
// TopKSelection), computed by one work-item per (selection unit, query token) with plain loops.
//   sinks 0..sinkEnd-1, the `slots` best-scoring candidates of sinkEnd..recentStart-1, recentStart..p;
//   or all of 0..p when slots cover every candidate.
// Order of the candidates: higher score first, equal scores to the earlier position, NaN as -infinity,
// -0.0 equal to 0.0.
//
// Why a second kernel: a CPU driver (PoCL) runs a work-group's work-items one after another, so the radix select's
// four histogram passes with local atomics and its barriers took it 0.54-0.70 ms for the 8 rows of a layer at 8K
// (1B shape, gqa=kv); here each pass is one loop a core runs at full speed, 16 candidates at a time, and the passes
// after the first read only the candidates of one bucket: 0.12 ms.
//
// How:
//  1. a bucket function that is non-decreasing in the score: BINS linear buckets between the smallest and the
//     largest finite score of an evenly spaced sample (scores outside it go to the end buckets), -inf and NaN to
//     bucket 0, +inf to the last. So every candidate of a higher bucket scores strictly higher;
//  2. a histogram of the buckets gives the bucket b holding the slots-th best candidate and its rank r in b;
//  3. b's candidates' order keys are copied into the output row (free until step 4) and a radix select (8 bits a
//     pass) over them alone finds the key T of the r-th and how many candidates equal to T are taken (the
//     earliest ones);
//  4. one ordered pass writes the taken positions, ascending.
// A degenerate sample (no finite score, or a range that overflows) puts every finite score in bucket 0: still
// exact, only step 3 then reads every candidate.
//
// budgets[4 * token + 0..3] = sinkEnd, recentStart, slots, p (from the CPU's BudgetRule).
// NDRange (units, query tokens), work-groups of one work-item. Local memory: hist (BINS uints).
// order_key comes from top_k_order.clh, which the host puts in front.

#define BINS 2048
#define SAMPLE 256

inline int bucket_of(float v, float lo, float inv) {
    // Selects rather than branches (this runs once per candidate). v - lo may round to +-inf for finite v far
    // outside the sample, which the clamp keeps in order too; with inv 0 every finite score lands in bucket 0.
    float x = (v - lo) * inv;
    x = isnan(v) || v == -INFINITY ? 0.0f : x;
    x = v == INFINITY ? (float) (BINS - 1) : x;
    return (int) fmin(fmax(x, 0.0f), (float) (BINS - 1));
}

// order_key and bucket_of on 16 scores at once (the same operations lane by lane, so the same results).
inline uint16 order_key16(float16 s) {
    s = select(s, (float16) (-INFINITY), isnan(s));
    s = select(s, (float16) (0.0f), s == 0.0f);
    uint16 b = as_uint16(s);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

inline int16 bucket_of16(float16 v, float lo, float inv) {
    float16 x = (v - lo) * inv;
    x = select(x, (float16) (0.0f), isnan(v) | (v == -INFINITY));
    x = select(x, (float16) ((float) (BINS - 1)), v == INFINITY);
    return convert_int16(fmin(fmax(x, 0.0f), (float) (BINS - 1)));
}

__kernel void top_k_serial(__global const float* scores, int scoreStride, int units, __global const int* budgets,
                           __global int* indices, int indexStride, __global int* counts, __local uint* hist) {
    int unit = get_global_id(0), token = get_global_id(1);
    if (unit >= units) return;
    int sinkEnd = budgets[4 * token], recentStart = budgets[4 * token + 1];
    int slots = budgets[4 * token + 2], p = budgets[4 * token + 3];
    long row = (long) token * units + unit;
    __global const float* s = scores + row * scoreStride;
    __global int* out = indices + row * indexStride;

    if (slots >= recentStart - sinkEnd) {
        for (int t = 0; t <= p; t++) out[t] = t;
        counts[row] = p + 1;
        return;
    }
    int n = sinkEnd;
    if (slots > 0) {
        int candidates = recentStart - sinkEnd, step = max(1, candidates / SAMPLE);
        float lo = INFINITY, hi = -INFINITY;
        for (int t = sinkEnd; t < recentStart; t += step) {
            float v = s[t];
            if (isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
        float width = hi - lo;
        float inv = isfinite(width) && width > 0.0f ? (float) BINS / width : 0.0f;
        if (!isfinite(inv)) inv = 0.0f;

        for (int b = 0; b < BINS; b++) hist[b] = 0u;
        // The passes over the candidates go 16 at a time, with the rest one by one.
        int t = sinkEnd, lanes[16];
        for (; t + 16 <= recentStart; t += 16) {
            vstore16(bucket_of16(vload16(0, s + t), lo, inv), 0, lanes);
            for (int l = 0; l < 16; l++) hist[lanes[l]]++;
        }
        for (; t < recentStart; t++) hist[bucket_of(s[t], lo, inv)]++;
        int above = 0, bucket = BINS - 1;
        for (; bucket > 0; bucket--) {
            if (above + (int) hist[bucket] >= slots) break;
            above += (int) hist[bucket];
        }
        int rank = slots - above; // rank still to find inside the bucket, from its best

        __global uint* band = (__global uint*) out;
        int m = 0;
        // Without branches (the row has room for the one write past the band): a quarter of the candidates taken at
        // random would mispredict every few of them.
        for (t = sinkEnd; t + 16 <= recentStart; t += 16) {
            float16 v = vload16(0, s + t);
            int16 buckets = bucket_of16(v, lo, inv);
            if (!any(buckets == bucket)) continue; // most blocks of 16 hold none of the bucket
            vstore16(buckets, 0, lanes);
            uint keys[16];
            vstore16(order_key16(v), 0, keys);
            for (int l = 0; l < 16; l++) {
                band[m] = keys[l];
                m += lanes[l] == bucket;
            }
        }
        for (; t < recentStart; t++) {
            float v = s[t];
            band[m] = order_key(v);
            m += bucket_of(v, lo, inv) == bucket;
        }
        uint prefix = 0u, prefixMask = 0u;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int d = 0; d < 256; d++) hist[d] = 0u;
            for (int j = 0; j < m; j++) {
                uint key = band[j];
                if ((key & prefixMask) == prefix) hist[(key >> shift) & 255u]++;
            }
            int taken = 0, d = 255;
            for (; d > 0; d--) {
                if (taken + (int) hist[d] >= rank) break;
                taken += (int) hist[d];
            }
            rank -= taken;
            prefix |= (uint) d << shift;
            prefixMask |= 255u << shift;
        }
        uint threshold = prefix;
        int tiesLeft = rank; // the earliest `rank` candidates equal to the threshold are taken

        for (int t = 0; t < sinkEnd; t++) out[t] = t;
        int o = sinkEnd;
        for (t = sinkEnd; t + 16 <= recentStart; t += 16) {
            uint16 keys = order_key16(vload16(0, s + t));
            int taken[16];
            vstore16(-(keys > threshold), 0, taken); // 1 where taken
            if (tiesLeft > 0 && any(keys == threshold)) {
                int ties[16];
                vstore16(-(keys == threshold), 0, ties);
                for (int l = 0; l < 16; l++) {
                    int tie = ties[l] && tiesLeft > 0;
                    taken[l] |= tie;
                    tiesLeft -= tie;
                }
            }
            for (int l = 0; l < 16; l++) {
                out[o] = t + l; // kept only if o moves on (o < p here, inside the row)
                o += taken[l];
            }
        }
        for (; t < recentStart; t++) {
            uint key = order_key(s[t]);
            int tie = key == threshold && tiesLeft > 0;
            out[o] = t;
            o += (key > threshold) | tie;
            tiesLeft -= tie;
        }
        n += slots;
    } else {
        for (int t = 0; t < sinkEnd; t++) out[t] = t;
    }
    for (int t = recentStart; t <= p; t++) out[n + t - recentStart] = t;
    counts[row] = n + (p + 1 - recentStart);
}
