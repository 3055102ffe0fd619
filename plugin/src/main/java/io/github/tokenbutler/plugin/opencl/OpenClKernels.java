package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumMap;
import java.util.Map;

/**
 * The OpenCL programs built for one device, with the launch geometry each needs: quantize_keys.cl,
 * importance_scores.cl, top_k_select.cl and sparse_attention.cl here, and the predictor's step (predictor_*.cl, run
 * by {@link OpenClPredictor}). {@link OpenClSparseAttention} chains them on device-resident buffers.
 */
public class OpenClKernels implements AutoCloseable {
    /** Rows of scores, selected positions and attention weights on the device are padded to a multiple of this. */
    static final int SCORE_GROUP = 64;
    private static final int TOP_K_GROUP = 256, ATTENTION_GROUP = 128;
    /** BINS in top_k_serial.cl: the local histogram's length. */
    private static final int TOP_K_SERIAL_BINS = 2048;

    private final ClContext ctx;
    private final boolean ownsContext;
    private final Map<KeyPrecision, ClKernel> scoring = new EnumMap<>(KeyPrecision.class);
    /** quantize_keys.cl per key precision. */
    private final Map<KeyPrecision, ClKernel> quantizing = new EnumMap<>(KeyPrecision.class);
    /** Build options that make quantize_keys.cl divide as Java does (correctly rounded). */
    private final String exactDivision;
    private final ClKernel topK, topKSerial;
    /** Which form of the top-k and attention kernels this device runs in production. */
    private final Form form;
    /** The attention kernels (sparse_attention.cl, sparse_attention_serial.cl) by file and build options (VEC, KV_FORMAT, HEADS, RUN). */
    private final Map<String, ClKernel> attention = new java.util.HashMap<>();
    /** The predictor's kernels (predictor_*.cl), by file and build options; built when a session first needs them. */
    private final Map<String, ClKernel> predictor = new java.util.HashMap<>();
    final int topKGroup;

    /** Builds the programs on a new context for {@code device}; closing this closes the context. */
    public OpenClKernels(ClDevice device) {
        this(new ClContext(device), true);
    }

    OpenClKernels(ClContext ctx, boolean ownsContext) {
        this.ctx = ctx;
        this.ownsContext = ownsContext;
        try {
            // Built eagerly: a device that cannot compile a kernel is found out when the backend is chosen.
            this.exactDivision = Cl.exactDivisionOptions(ctx.device());
            for (KeyPrecision p : KeyPrecision.values()) {
                scoringKernel(p);
                quantizingKernel(p);
            }
            this.topK = ctx.program("top_k_select.cl", "", "top_k_order.clh").kernel("top_k_select");
            this.topKSerial = ctx.program("top_k_serial.cl", "", "top_k_order.clh").kernel("top_k_serial");
            this.form = Form.forDevice(ctx.device());
            // The attention variants for an F16 mirror or several heads per work-group are built when a session asks
            // for them (OpenClSparseAttention's constructor), where a build failure is reported the same way.
            // Head sizes 1, 2, 4, 8, 16: one program of each VEC.
            for (int headSize = 1; headSize <= 16; headSize *= 2) attentionKernel(form, headSize, KeyPrecision.F32, 1);
            this.topKGroup = (int) Math.min(TOP_K_GROUP, topK.maxWorkGroupSize());
        } catch (RuntimeException e) {
            if (ownsContext) ctx.close();
            throw e;
        }
    }

    public ClContext context() { return ctx; }

    /** Which device, for test names and messages. */
    public String name() { return "opencl " + ctx.device().name(); }

    /** The KEY_FORMAT build option of importance_scores.cl and quantize_keys.cl. */
    private static int keyFormat(KeyPrecision p) {
        return switch (p) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8 -> 2;
            case Q4 -> 3;
        };
    }

    ClKernel scoringKernel(KeyPrecision precision) {
        return scoring.computeIfAbsent(precision, p -> ctx.program("importance_scores.cl", "-DKEY_FORMAT=" + keyFormat(p)).kernel("importance_scores"));
    }

    private ClKernel quantizingKernel(KeyPrecision precision) {
        return quantizing.computeIfAbsent(precision, p -> ctx.program("quantize_keys.cl", "-DKEY_FORMAT=" + keyFormat(p) + " " + exactDivision)
                .kernel("quantize_keys"));
    }

    /** The kernel of a predictor_*.cl file (named like the file) built with {@code options}. */
    ClKernel predictorKernel(String file, String options) {
        return predictor.computeIfAbsent(file + " " + options, key -> ctx.program(file, options).kernel(file.substring(0, file.length() - 3)));
    }

    /**
     * The attention kernel of {@code form} for a head size of {@code headSize} over a K/V mirror stored as {@code kv}
     * (F32 or F16), with {@code heads} query heads (sharing a selection and a K/V head) per work-group (parallel)
     * or work-item (serial).
     */
    ClKernel attentionKernel(Form form, int headSize, KeyPrecision kv, int heads) {
        int format = switch (kv) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8, Q4 -> throw new IllegalArgumentException("the K/V mirror is F32 or F16, not " + kv);
        };
        int vec = channelRun(headSize);
        String options = "-DVEC=" + vec + " -DKV_FORMAT=" + format + " -DHEADS=" + heads;
        String file = switch (form) {
            case PARALLEL -> "sparse_attention";
            case SERIAL -> {
                options += " -DRUN=" + vectorsPerRun(headSize / vec);
                yield "sparse_attention_serial";
            }
        };
        return attention.computeIfAbsent(file + " " + options,
                key -> ctx.program(file + ".cl", key.substring(file.length() + 1), "attention_rows.clh").kernel(file));
    }

    /** RUN of sparse_attention_serial.cl: the largest of 4, 2, 1 dividing the vectors of a head. */
    static int vectorsPerRun(int vectorsPerHead) {
        int run = 4;
        while (vectorsPerHead % run != 0) run /= 2;
        return run;
    }

    /**
     * Query heads per attention work-group: the largest count up to 4 that divides both {@code headsPerUnit} (so
     * they share a selection) and {@code kvGroup} (so they share a K/V head). 1 with one selection per query head.
     * Up to 4 because each head adds VEC accumulators per work-item, which a GPU keeps in registers.
     */
    static int headsPerWorkGroup(int headsPerUnit, int kvGroup) {
        for (int d = 4; d > 1; d--) if (headsPerUnit % d == 0 && kvGroup % d == 0) return d;
        return 1;
    }

    /** The largest of 16, 8, 4, 2, 1 that divides the head size: channels per vector load in the attention kernel. */
    static int channelRun(int headSize) {
        int vec = 16;
        while (headSize % vec != 0) vec /= 2;
        return vec;
    }

    /** Slices of the selected positions per attention work-group: about ATTENTION_GROUP work-items in all. */
    int attentionSlices(int headSize, KeyPrecision kv, int heads) {
        int vec = channelRun(headSize), channelGroups = headSize / vec;
        long max = attentionKernel(Form.PARALLEL, headSize, kv, heads).maxWorkGroupSize();
        if (channelGroups > max) {
            throw new ClException("sparse_attention: head size " + headSize + " needs work-groups of " + channelGroups
                    + " work-items, above the device's largest for this kernel (" + max + ")", -54);
        }
        return (int) Math.max(1, Math.min(ATTENTION_GROUP, max) / channelGroups);
    }

    static long roundUp(long n, long multiple) { return (n + multiple - 1) / multiple * multiple; }

    /** Elements of one group's array in a store (all groups are the same length). */
    static int groupLength(BlockedVectorStore keys) { return keys.capacity() * keys.rowWidth(); }

    /** Bytes staged per rectangular transfer of {@link #uploadKeys} at most (a whole prefill goes in pieces). */
    private static final long UPLOAD_PIECE_BYTES = 8L << 20;

    /**
     * Copies positions [from, to) of every group of {@code keys} to {@code dst} (+ Q8/Q4 scales to {@code scales}):
     * whole blocks of 16 positions, one rectangular transfer for all groups (a transfer per group cost about 30 ms
     * a decode step on PoCL for the 512 groups of a 1B model), in pieces of at most 8 MiB for a long prefill.
     */
    static void uploadKeys(BlockedVectorStore keys, int from, int to, ClBuffer dst, ClBuffer scales, int groupStride, int scaleStride) {
        uploadKeys(keys, 0, keys.groups(), from, to, dst, scales, groupStride, scaleStride);
    }

    /** {@link #uploadKeys} of groups [firstGroup, firstGroup + groups) only (one layer's, for v2). */
    static void uploadKeys(BlockedVectorStore keys, int firstGroup, int groups, int from, int to, ClBuffer dst, ClBuffer scales,
                           int groupStride, int scaleStride) {
        if (to <= from) return;
        int block = BlockedVectorStore.BLOCK;
        long blockBytes = (long) block * keys.rowWidth() * keyBytes(keys.precision()) + block * 4L;
        int blocksPerPiece = (int) Math.max(1, UPLOAD_PIECE_BYTES / (groups * blockBytes));
        for (int start = from; start < to; ) {
            int end = Math.min(to, (start / block + blocksPerPiece) * block);
            uploadKeyPiece(keys, firstGroup, groups, start, end, dst, scales, groupStride, scaleStride);
            start = end;
        }
    }

    private static void uploadKeyPiece(BlockedVectorStore keys, int g0, int groups, int from, int to, ClBuffer dst, ClBuffer scales,
                                       int groupStride, int scaleStride) {
        int dim = keys.rowWidth(), block = BlockedVectorStore.BLOCK;
        int first = (from / block) * block * dim, last = ((to - 1) / block + 1) * block * dim, n = last - first;
        long bytes = keyBytes(keys.precision());
        dst.writeRows(groups, n * bytes, ((long) g0 * groupStride + first) * bytes, groupStride * bytes, (r, seg) -> {
            int g = g0 + r;
            switch (keys) {
                case BlockedVectorStore.F32 f -> MemorySegment.copy(f.array(g), first, seg, ValueLayout.JAVA_FLOAT, 0, n);
                case BlockedVectorStore.F16 h -> MemorySegment.copy(h.array(g), first, seg, ValueLayout.JAVA_SHORT, 0, n);
                case BlockedVectorStore.Scaled q -> MemorySegment.copy(q.array(g), first, seg, ValueLayout.JAVA_BYTE, 0, n);
            }
        });
        int count = to - from;
        if (keys instanceof BlockedVectorStore.Scaled q) {
            scales.writeRows(groups, count * 4L, ((long) g0 * scaleStride + from) * 4L, scaleStride * 4L,
                    (r, seg) -> MemorySegment.copy(q.scales(g0 + r), from, seg, ValueLayout.JAVA_FLOAT, 0, count));
        }
    }

    /**
     * Bytes per element of a store's raw array in precision {@code p} (a value, or for Q4 a byte of two values):
     * importance keys (F32, F16, Q8, Q4) and the K/V mirror (F32, F16).
     */
    static long keyBytes(KeyPrecision p) {
        return switch (p) {
            case F32 -> 4;
            case F16 -> 2;
            case Q8, Q4 -> 1;
        };
    }

    /**
     * Where a layer's query heads find their importance queries and keys in importance_scores.cl: query head h reads
     * query group firstQueryGroup + h of its row and key group firstKeyGroup + h / keyShare.
     * @param keyShare query heads per key group: 1 for v1 (a key per query head), the KV group size for v2
     */
    record ScoringGroups(int firstQueryGroup, int firstKeyGroup, int keyShare) {
        /** v1: query and key group layer * heads + h. */
        static ScoringGroups perQueryHead(int layer, int heads) { return new ScoringGroups(layer * heads, layer * heads, 1); }
    }

    /**
     * importance_scores.cl for query tokens firstPos.. firstPos+tokens-1 (query rows firstQueryRow..), units of
     * headsPerUnit query heads, their groups as {@code groups} says: scores[(token * units + unit) * scoreStride + t]
     * for t up to the token.
     */
    void runScoring(KeyPrecision precision, ClBuffer keys, ClBuffer scales, int groupStride, int scaleStride, int dPrime,
                    ClBuffer queries, int queryStride, int firstQueryRow, ScoringGroups groups, int headsPerUnit, float scale,
                    int firstPos, int units, ClBuffer scores, int scoreStride, int tokens) {
        scoringKernel(precision).arg(0, keys).arg(1, scales).arg(2, groupStride).arg(3, scaleStride).arg(4, dPrime)
                .arg(5, queries).arg(6, queryStride).arg(7, firstQueryRow).arg(8, groups.firstQueryGroup())
                .arg(9, groups.firstKeyGroup()).arg(10, groups.keyShare()).arg(11, headsPerUnit)
                .arg(12, scale).arg(13, firstPos).arg(14, units).arg(15, scoreStride).arg(16, scores)
                .run(new long[]{roundUp((long) firstPos + tokens, BlockedVectorStore.BLOCK) / BlockedVectorStore.BLOCK, units, tokens}, null);
    }

    /**
     * quantize_keys.cl: tokens rows of {@code src} ([token][groups * dPrime] floats, the predictor's rotated importance
     * keys) into positions firstPos.. of every group of the device's key store, as BlockedVectorStore.put stores them.
     */
    void runQuantize(KeyPrecision precision, ClBuffer src, int srcStride, int dPrime, int groups, ClBuffer keys, ClBuffer scales,
                     int groupStride, int scaleStride, int firstPos, int tokens) {
        quantizingKernel(precision).arg(0, src).arg(1, srcStride).arg(2, dPrime).arg(3, groups).arg(4, keys).arg(5, scales)
                .arg(6, groupStride).arg(7, scaleStride).arg(8, firstPos)
                .run(new long[]{groups, tokens}, null);
    }

    /**
     * Reads positions [0, length) of every group of the device's key store (+ Q8/Q4 scales) into {@code keys}, whose
     * capacity must cover them: the CPU taking over a sequence whose keys only the device held. Whole blocks of 16.
     */
    static void downloadKeys(BlockedVectorStore keys, int length, ClBuffer src, ClBuffer scales, int groupStride, int scaleStride) {
        if (length <= 0) return;
        int n = (int) roundUp(length, BlockedVectorStore.BLOCK) * keys.rowWidth();
        for (int g = 0; g < keys.groups(); g++) {
            long at = (long) g * groupStride;
            switch (keys) {
                case BlockedVectorStore.F32 f -> src.read(at, f.array(g), 0, n);
                case BlockedVectorStore.F16 h -> src.read(at, h.array(g), 0, n);
                case BlockedVectorStore.Scaled q -> {
                    src.read(at, q.array(g), 0, n);
                    scales.read((long) g * scaleStride, q.scales(g), 0, length);
                }
            }
        }
    }

    /**
     * The two forms of the top-k and the attention kernels. They compute the same (top-k: the same selections,
     * attention: within float rounding); each is fast on one kind of device.
     */
    enum Form {
        /**
         * A work-group of many work-items per row (a selection's scores, a head group's selected positions), which
         * split it and meet in local memory: top_k_select.cl (radix select), sparse_attention.cl. For a GPU.
         */
        PARALLEL,
        /**
         * One work-item per row with plain loops: top_k_serial.cl, sparse_attention_serial.cl. For a CPU driver (PoCL),
         * which runs a work-group's work-items one after another: there the parallel form's barriers, local atomics
         * and short loops took 2-5x as long (8K, the 1B shape).
         */
        SERIAL;

        static Form forDevice(ClDevice device) { return device.isCpu() ? SERIAL : PARALLEL; }
    }

    /** The form of the top-k and attention kernels that {@link #runTopK} and {@link #runAttention} launch here. */
    Form form() { return form; }

    /**
     * Top-k of each (unit, token) row of {@code scores} under the budgets (sinkEnd, recentStart, slots, p per token):
     * the kept positions ascending into indices rows, their number into counts.
     */
    void runTopK(ClBuffer scores, int scoreStride, int units, ClBuffer budgets, ClBuffer indices, int indexStride, ClBuffer counts, int tokens) {
        runTopK(form, scores, scoreStride, units, budgets, indices, indexStride, counts, tokens);
    }

    /** {@link #runTopK} in the given form (tests run both on every device). */
    void runTopK(Form form, ClBuffer scores, int scoreStride, int units, ClBuffer budgets, ClBuffer indices, int indexStride, ClBuffer counts,
                 int tokens) {
        switch (form) {
            case PARALLEL -> topK.arg(0, scores).arg(1, scoreStride).arg(2, units).arg(3, budgets).arg(4, indices).arg(5, indexStride).arg(6, counts)
                    .local(7, 256L * 4).local(8, (long) topKGroup * 4).local(9, (long) topKGroup * 4)
                    .run(new long[]{(long) units * topKGroup, tokens}, new long[]{topKGroup, 1});
            case SERIAL -> topKSerial.arg(0, scores).arg(1, scoreStride).arg(2, units).arg(3, budgets).arg(4, indices).arg(5, indexStride)
                    .arg(6, counts).local(7, (long) TOP_K_SERIAL_BINS * 4)
                    .run(new long[]{units, tokens}, new long[]{1, 1});
        }
    }

    /** Values per piece when a mirror is converted to half on the host (the scratch array's length). */
    static final int HALF_CHUNK = 1 << 16;

    /**
     * Rows fromRow..fromRow+rows-1 of a KV cache layer into the device's mirror ([position][kvDim]) at the same rows,
     * in the mirror's precision: a row-major f32 cache as it is, a row-major f16 cache into an f16 mirror as its bits,
     * anything else (the runtime's head-major caches) assembled into float rows, a staging chunk at a time.
     */
    static void writeMirror(ClBuffer dst, KeyPrecision kv, KvRows src, int fromRow, int rows, short[] halfScratch, float[] floatScratch) {
        int width = src.width;
        long at = (long) fromRow * width;
        boolean rowMajor = src.unit == width; // else the runtime's head-major layout: rows are assembled below
        if (rowMajor && src.type == KvType.F32) {
            writeMirror(dst, kv, src.f32(), fromRow * width, rows * width, at, halfScratch);
        } else if (rowMajor && src.type == KvType.F16 && kv == KeyPrecision.F16) {
            dst.write(src.f16(), fromRow * width, rows * width, at);
        } else {
            int perChunk = Math.max(1, floatScratch.length / width);
            for (int r = 0; r < rows; r += perChunk) {
                int n = Math.min(perChunk, rows - r);
                src.gather(null, fromRow + r, fromRow + r + n, 0, width, floatScratch);
                writeMirror(dst, kv, floatScratch, 0, n * width, at + (long) r * width, halfScratch);
            }
        }
    }

    /**
     * Writes src[srcOff, srcOff+count) to mirror elements [dstElement, ...) stored as {@code kv}; F16 rounds to
     * nearest (Float.floatToFloat16) piece by piece through {@code scratch}.
     */
    static void writeMirror(ClBuffer dst, KeyPrecision kv, float[] src, int srcOff, int count, long dstElement, short[] scratch) {
        if (kv == KeyPrecision.F32) {
            dst.write(src, srcOff, count, dstElement);
            return;
        }
        for (int done = 0; done < count; done += scratch.length) {
            int n = Math.min(scratch.length, count - done);
            for (int i = 0; i < n; i++) scratch[i] = Float.floatToFloat16(src[srcOff + done + i]);
            dst.write(scratch, 0, n, dstElement + done);
        }
    }

    /**
     * Attention of every query head of {@code tokens} query tokens over its unit's selected positions (indices and
     * counts rows as runTopK leaves them), into out ([token][qDim]); weights is scratch of one row per (token, head).
     */
    void runAttention(ClBuffer q, int qDim, ClBuffer keys, ClBuffer values, KeyPrecision kv, int kvDim, int headSize, int kvGroup,
                      int headsPerUnit, int units, ClBuffer indices, int indexStride, ClBuffer counts, ClBuffer weights, int weightStride,
                      float scale, ClBuffer out, int heads, int tokens) {
        runAttention(form, q, qDim, keys, values, kv, kvDim, headSize, kvGroup, headsPerUnit, units, indices, indexStride, counts, weights,
                weightStride, scale, out, heads, tokens);
    }

    /** {@link #runAttention} in the given form (tests run both on every device). */
    void runAttention(Form form, ClBuffer q, int qDim, ClBuffer keys, ClBuffer values, KeyPrecision kv, int kvDim, int headSize, int kvGroup,
                      int headsPerUnit, int units, ClBuffer indices, int indexStride, ClBuffer counts, ClBuffer weights, int weightStride,
                      float scale, ClBuffer out, int heads, int tokens) {
        int group = headsPerWorkGroup(headsPerUnit, kvGroup);
        ClKernel kernel = attentionKernel(form, headSize, kv, group).arg(0, q).arg(1, qDim).arg(2, keys).arg(3, values).arg(4, kvDim)
                .arg(5, headSize).arg(6, kvGroup).arg(7, headsPerUnit).arg(8, units).arg(9, indices).arg(10, indexStride).arg(11, counts)
                .arg(12, weights).arg(13, weightStride).arg(14, scale).arg(15, out);
        if (form == Form.SERIAL) {
            kernel.arg(16, heads).run(new long[]{(long) heads / group * tokens}, new long[]{1});
            return;
        }
        int vec = channelRun(headSize), slices = attentionSlices(headSize, kv, group);
        kernel.local(16, (long) slices * headSize * 4).arg(17, heads)
                .run(new long[]{headSize / vec, slices, (long) heads / group * tokens}, new long[]{headSize / vec, slices, 1});
    }

    @Override
    public void close() {
        // Kernels and programs belong to the context, which releases them in reverse order.
        if (ownsContext) ctx.close();
    }
}
