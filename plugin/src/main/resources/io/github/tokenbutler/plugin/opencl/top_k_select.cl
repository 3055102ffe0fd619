// Top-k selection without a sort: one work-group per (selection unit, query token) picks the positions that
// unit attends at the token's position p, ascending, exactly as the CPU's TokenSelector + TopKSelection do:
//   sinks 0..sinkEnd-1, the `slots` best-scoring candidates of sinkEnd..recentStart-1, recentStart..p;
//   or all of 0..p when slots cover every candidate.
// Order of the candidates: higher score first, equal scores to the earlier position, NaN as -infinity,
// -0.0 equal to 0.0.
//
// How: scores map to unsigned keys whose order is the score order; a 4-pass radix select (8 bits a pass,
// a 256-bin histogram in local memory) finds the key T of the k-th best candidate and how many of the
// candidates equal to T are taken (the earliest ones). Then every work-item counts, in its own contiguous
// slice of the candidates, those above T and those equal to T; a work-group prefix sum turns the counts into
// output offsets, and a second pass over the slice writes the taken positions in ascending order.
//
// budgets[4 * token + 0..3] = sinkEnd, recentStart, slots, p (from the CPU's BudgetRule).
// Local memory: hist (256 uints), scanA and scanB (work-group size ints each).
// order_key comes from top_k_order.clh, which the host puts in front.

// Inclusive prefix sum of a[0..wg) (Hillis-Steele); every work-item of the group must call it.
inline void scan_inclusive(__local int* a, int lid, int wg) {
    for (int off = 1; off < wg; off <<= 1) {
        int v = lid >= off ? a[lid - off] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        a[lid] += v;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel void top_k_select(__global const float* scores, int scoreStride, int units, __global const int* budgets,
                           __global int* indices, int indexStride, __global int* counts,
                           __local uint* hist, __local int* scanA, __local int* scanB) {
    int unit = get_group_id(0), token = get_group_id(1);
    int lid = get_local_id(0), wg = get_local_size(0);
    int sinkEnd = budgets[4 * token], recentStart = budgets[4 * token + 1];
    int slots = budgets[4 * token + 2], p = budgets[4 * token + 3];
    long row = (long) token * units + unit;
    __global const float* s = scores + row * scoreStride;
    __global int* out = indices + row * indexStride;

    if (slots >= recentStart - sinkEnd) {
        for (int t = lid; t <= p; t += wg) out[t] = t;
        if (lid == 0) counts[row] = p + 1;
        return;
    }
    for (int t = lid; t < sinkEnd; t += wg) out[t] = t;
    int n = sinkEnd;
    if (slots > 0) {
        // Radix select of the slots-th largest key among the candidates.
        uint prefix = 0u, prefixMask = 0u;
        int rank = slots; // rank still to find inside the bucket selected so far
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int b = lid; b < 256; b += wg) hist[b] = 0u;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int t = sinkEnd + lid; t < recentStart; t += wg) {
                uint key = order_key(s[t]);
                if ((key & prefixMask) == prefix) atomic_inc(&hist[(key >> shift) & 255u]);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid == 0) {
                uint above = 0u;
                int d = 255;
                for (; d > 0; d--) {
                    if (above + hist[d] >= (uint) rank) break;
                    above += hist[d];
                }
                scanA[0] = d;
                scanA[1] = rank - (int) above;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            uint digit = (uint) scanA[0];
            rank = scanA[1];
            barrier(CLK_LOCAL_MEM_FENCE);
            prefix |= digit << shift;
            prefixMask |= 255u << shift;
        }
        uint threshold = prefix;
        int tiesTaken = rank; // the earliest `rank` candidates equal to the threshold are taken

        // Each work-item's contiguous slice of the candidates.
        int candidates = recentStart - sinkEnd;
        int per = (candidates + wg - 1) / wg;
        int from = sinkEnd + min(candidates, lid * per), to = sinkEnd + min(candidates, (lid + 1) * per);
        int above = 0, equal = 0;
        for (int t = from; t < to; t++) {
            uint key = order_key(s[t]);
            above += key > threshold;
            equal += key == threshold;
        }
        scanA[lid] = equal;
        barrier(CLK_LOCAL_MEM_FENCE);
        scan_inclusive(scanA, lid, wg);
        int equalBefore = scanA[lid] - equal;
        int myTies = clamp(tiesTaken - equalBefore, 0, equal);
        int taken = above + myTies;
        scanB[lid] = taken;
        barrier(CLK_LOCAL_MEM_FENCE);
        scan_inclusive(scanB, lid, wg);
        int o = n + scanB[lid] - taken;
        int tiesLeft = myTies;
        for (int t = from; t < to; t++) {
            uint key = order_key(s[t]);
            if (key > threshold) out[o++] = t;
            else if (key == threshold && tiesLeft > 0) { out[o++] = t; tiesLeft--; }
        }
        n += slots;
    }
    for (int t = recentStart + lid; t <= p; t += wg) out[n + t - recentStart] = t;
    if (lid == 0) counts[row] = n + (p + 1 - recentStart);
}
