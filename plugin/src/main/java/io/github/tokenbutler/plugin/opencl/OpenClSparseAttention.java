package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorState;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.selection.BudgetRule;
import io.github.tokenbutler.plugin.selection.SelectionUnits;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.Parallel;
import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * The tokenbutler policy's per-token work on an OpenCL device, for one model state: importance scoring, top-k
 * selection and sparse attention of layers 1..L-1, chained on the device, one launch of each kernel per layer
 * and call (all units and query tokens of the call at once; long prefills in chunks).
 *
 * <p>Device-resident state, appended as the sequence grows so that only new rows cross the bus:
 * <ul>
 *   <li>the predictor's importance keys, in the CPU store's blocked layout and precision (F32, F16, or Q8 or Q4
 *       + scales), every (layer, head) group at a fixed stride of the whole context;</li>
 *   <li>a mirror of the runtime's K and V caches of layers 1..L-1 ([position][kvDim], F32, or F16 with
 *       {@code mirror=f16}: half the memory, upload and gather traffic, values rounded to half).</li>
 * </ul>
 * Per layer, the call's queries go up and the attention output comes back for the output projection.
 * The predictor's step runs here too ({@link OpenClPredictor}: its weights and own K/V cache stay on the device),
 * and its importance queries and keys never leave the device: quantize_keys.cl stores the keys in the CPU store's
 * layout and precision, bit for bit as the CPU would, and scoring reads the queries where the step left them.
 * The CPU's {@link ImportanceState} stays empty while the device runs the predictor.
 *
 * <p>A v2 predictor ({@link RevisedImportanceState}) stays on the CPU: its producers and key projections are a few
 * small matmuls a token. The device holds a copy of its importance keys (one group per (layer, KV head), in the
 * CPU store's layout and precision): before each layer's scoring the layer's new key blocks go up, and so do the
 * call's queries of that layer (per query head, or the KV groups' mean queries with gqa=kv). The CPU's state is
 * therefore always complete, and a device that gives up hands nothing over.
 *
 * <p>Failures: a ClException (e.g. out of device memory) makes this backend give up: with backend=opencl
 * asked for explicitly it is a UserError; under auto the device's predictor state (its K/V cache, the importance
 * keys and the last append's queries) is read back into the CPU's {@link ImportanceState} once, one line says so,
 * and every later call returns -1 so the hook's CPU path takes over with the same state. A device that cannot
 * even be read then is a UserError (the sequence cannot go on without its predictor state).
 */
final class OpenClSparseAttention implements BackendAttention {
    // Scores, indices and weights of one launch hold tokens * units * positions values: long prefills go in
    // chunks of tokens that keep each buffer under this many values.
    private static final long MAX_CALL_VALUES = 1L << 24;

    private final OpenClKernels kernels;
    private final ClContext ctx;
    private final boolean explicit;
    private final String deviceName;
    /** The device is the host's own cores (PoCL): before it runs, the runtime's idle workers are asked to park and the queue is held. */
    private final boolean sharesHostCores;
    /** The predictor's state: v1 (the device runs its step) or v2 (the CPU runs it); the other is null. */
    private final ImportanceState state;
    private final RevisedImportanceState revised;
    private final KeyPrecision keyPrecision;
    private final BudgetRule budget;
    private final KeyPrecision mirror;
    private final short[] halfScratch;
    /** Rows of an f16 or q8_0 cache as floats on their way to the mirror (when the mirror's precision differs). */
    private final float[] floatScratch = new float[OpenClKernels.HALF_CHUNK];
    private final int layers, nHeads, qDim, kvDim, headSize, kvGroup, units, headsPerUnit, context, positionsPadded;
    /** importanceDim: a token's query row on the device (v1: every layer's; v2: one layer's, uploaded per call). */
    private final int groupStride, importanceDim, keyGroupsPerLayer, dPrime; // key groups: v1 one per query head, v2 per KV head
    private final float attentionScale, scoreScale;
    private final boolean perKvHead;
    /** v2: positions of each layer's importance keys on the device; the call's queries of one layer, [token][units * d']. */
    private final int[] keysOnDevice;
    private float[] layerQueries = new float[0];

    private final ClBuffer[] keyMirror, valueMirror;
    private final int[] mirrored;
    private ClBuffer importanceKeys, importanceScales;
    /** The predictor's step on the device; its results stay here. */
    private OpenClPredictor predictorStep;
    private ClBuffer queries, callQ, scores, indices, counts, budgets, weights, out;
    private int queryRows, callTokensCapacity;
    /** Positions of the predictor's state on the device, and the query rows of its last append. */
    private int deviceLength, appendCount;
    /** The CPU's {@link #state} holds what the device holds (it ran the predictor itself, or both are empty). */
    private boolean hostCurrent = true;
    private boolean failed;
    /** measure/record: the selections of the last call come back to the host, [token][unit][keptStride]. */
    private final boolean keepSelections;
    private int[] keptIndices = new int[0], keptCounts = new int[0];
    private int keptStride;

    /**
     * @param keepSelections read each call's selections back for {@link #selection} (hit-rate, recording)
     * @param mirror how the device stores the K/V mirror: F32 or F16
     */
    OpenClSparseAttention(OpenClKernels kernels, boolean explicit, ModelConfig config, BudgetRule budget, boolean perKvHead,
                          PredictorState predictorState, boolean keepSelections, KeyPrecision mirror) {
        this.keepSelections = keepSelections;
        this.mirror = mirror;
        this.halfScratch = mirror == KeyPrecision.F16 ? new short[OpenClKernels.HALF_CHUNK] : null;
        this.kernels = kernels;
        this.ctx = kernels.context();
        this.explicit = explicit;
        this.deviceName = ctx.device().name();
        this.sharesHostCores = ctx.device().isCpu();
        this.state = predictorState instanceof ImportanceState v1 ? v1 : null;
        this.revised = predictorState instanceof RevisedImportanceState v2 ? v2 : null;
        this.perKvHead = perKvHead;
        this.budget = budget;
        this.layers = config.nLayers();
        this.nHeads = config.nHeads();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.headSize = config.headSize();
        this.kvGroup = config.kvGroup();
        SelectionUnits selectionUnits = SelectionUnits.of(config, perKvHead);
        this.units = selectionUnits.count();
        this.headsPerUnit = selectionUnits.headsPerUnit();
        this.context = config.contextLength();
        this.positionsPadded = (int) OpenClKernels.roundUp(context, BlockedVectorStore.BLOCK);
        this.attentionScale = (float) (1.0 / Math.sqrt(headSize));
        BlockedVectorStore hostKeys;
        if (state != null) {
            PredictorConfig pc = state.config();
            this.importanceDim = pc.importanceDim();
            this.keyGroupsPerLayer = pc.modelHeads();
            this.dPrime = pc.dPrime();
            this.scoreScale = state.scoreScale() / headsPerUnit;
            this.keysOnDevice = null;
            hostKeys = state.keys();
        } else {
            this.dPrime = revised.config().dPrime();
            this.keyGroupsPerLayer = revised.config().modelKvHeads();
            this.importanceDim = units * dPrime;
            // gqa=kv scores each KV group once with its mean query (the CPU's groupScores): no sum over heads
            this.scoreScale = revised.scoreScale();
            this.keysOnDevice = new int[layers];
            hostKeys = revised.keys();
        }
        this.keyPrecision = hostKeys.precision();
        this.groupStride = positionsPadded * hostKeys.rowWidth();
        this.keyMirror = new ClBuffer[layers];
        this.valueMirror = new ClBuffer[layers];
        this.mirrored = new int[layers];
        synchronized (kernels) {
            try {
                // Built now, so that a failure shows at open.
                kernels.attentionKernel(kernels.form(), headSize, mirror, OpenClKernels.headsPerWorkGroup(headsPerUnit, kvGroup));
                long bytes = OpenClKernels.keyBytes(mirror);
                for (int l = 1; l < layers; l++) {
                    keyMirror[l] = ctx.buffer((long) context * kvDim * bytes, "K cache mirror of layer " + l);
                    valueMirror[l] = ctx.buffer((long) context * kvDim * bytes, "V cache mirror of layer " + l);
                }
                int groups = hostKeys.groups();
                importanceKeys = ctx.buffer((long) groups * groupStride * OpenClKernels.keyBytes(keyPrecision), "importance keys");
                importanceScales = ctx.buffer((long) groups * positionsPadded * 4, "importance key scales");
                if (state != null) predictorStep = new OpenClPredictor(kernels, state.config(), state.weights(), context);
                // Drivers may allocate lazily: touch every buffer now so that "out of device memory" shows here.
                ctx.finish();
            } catch (ClException e) {
                releaseBuffers();
                throw e;
            }
        }
    }

    @Override
    public boolean appendPredictor(int startPos, int n, float[] x) {
        if (failed || revised != null) return false;
        if (startPos < 0 || startPos > deviceLength) {
            throw new IllegalArgumentException("startPos " + startPos + " must be in 0.." + deviceLength + " (the positions stored so far)");
        }
        synchronized (kernels) {
            if (sharesHostCores) Parallel.releaseCores();
            try {
                if (sharesHostCores) ctx.hold();
                ensureQueryRows(n);
                int d = importanceDim, groups = state.config().modelLayers() * keyGroupsPerLayer;
                predictorStep.step(startPos, n, x, (t0, first, tokens, qi, ki) -> {
                    qi.copyFloats(0, queries, (long) t0 * d, (long) tokens * d);
                    kernels.runQuantize(state.precision(), ki, d, state.config().dPrime(), groups, importanceKeys, importanceScales,
                            groupStride, positionsPadded, first, tokens);
                });
            } catch (ClException e) {
                // The step may have overwritten positions from startPos on: the CPU gets those before it and reruns the step.
                fail(e, Math.min(startPos, deviceLength), 0);
                return false;
            }
            deviceLength = startPos + n;
            appendCount = n;
            hostCurrent = false;
            return true;
        }
    }

    /** The CPU's predictor ran (or a synthetic fill): its keys, queries and K/V rows go up. */
    @Override
    public void predictorAppended(int startPos, int n) {
        // v2: each layer's keys and queries go up at its attend, once the CPU has them
        if (failed || revised != null) return;
        // The CPU's state is complete now: a failure below must not replace it with the device's.
        hostCurrent = true;
        synchronized (kernels) {
            try {
                if (n > 0) {
                    int p = state.config().projDim();
                    float[] k = new float[n * p], v = new float[n * p];
                    state.attentionRows(startPos, startPos + n, k, v);
                    predictorStep.loadCache(startPos, n, k, v);
                }
                OpenClKernels.uploadKeys(state.keys(), startPos, startPos + n, importanceKeys, importanceScales, groupStride, positionsPadded);
                int rows = state.queryCount();
                if (rows > 0) {
                    ensureQueryRows(rows);
                    queries.write(state.queries(), 0, rows * importanceDim, 0);
                }
                deviceLength = state.length();
                appendCount = rows;
            } catch (ClException e) {
                fail(e, 0, 0);
            }
        }
    }

    private void ensureQueryRows(int rows) {
        if (rows <= queryRows) return;
        if (queries != null) queries.close();
        queries = null;
        int grown = Math.max(rows, 2 * queryRows);
        queries = ctx.buffer((long) grown * importanceDim * 4, "importance queries");
        queryRows = grown;
    }

    @Override
    public long attend(int layer, int startPos, int nTokens, int predictedRow, float[] q, KvRows keyCache, KvRows valueCache, float[] out) {
        if (failed) return -1;
        synchronized (kernels) {
            if (sharesHostCores) Parallel.releaseCores();
            try {
                return attendOnDevice(layer, startPos, nTokens, predictedRow, q, keyCache, valueCache, out);
            } catch (ClException e) {
                fail(e, deviceLength, appendCount);
                return -1;
            }
        }
    }

    private long attendOnDevice(int layer, int startPos, int nTokens, int predictedRow, float[] q, KvRows keyCache, KvRows valueCache,
                                float[] result) {
        if (sharesHostCores) ctx.hold(); // the device starts when this call's work is all enqueued
        int end = startPos + nTokens;
        if (end > context) throw new IllegalArgumentException("positions up to " + (end - 1) + " exceed the context of " + context);
        // Only the rows the device has not seen cross the bus (a rewind re-sends from the rewound position).
        int from = Math.min(mirrored[layer], startPos);
        OpenClKernels.writeMirror(keyMirror[layer], mirror, keyCache, from, end - from, halfScratch, floatScratch);
        OpenClKernels.writeMirror(valueMirror[layer], mirror, valueCache, from, end - from, halfScratch, floatScratch);
        mirrored[layer] = end;

        if (revised != null) {
            int keysFrom = Math.min(keysOnDevice[layer], startPos);
            OpenClKernels.uploadKeys(revised.keys(), layer * keyGroupsPerLayer, keyGroupsPerLayer, keysFrom, end, importanceKeys, importanceScales,
                    groupStride, positionsPadded);
            keysOnDevice[layer] = end;
        }

        int stride = (int) OpenClKernels.roundUp(end, OpenClKernels.SCORE_GROUP);
        int chunk = (int) Math.max(1, Math.min(nTokens, MAX_CALL_VALUES / ((long) Math.max(units, nHeads) * stride)));
        ensureCallBuffers(chunk, stride);
        long attended = 0;
        int[] budgetValues = new int[4 * chunk];
        if (keepSelections) {
            keptStride = stride;
            long need = (long) nTokens * units * stride;
            if (need > Integer.MAX_VALUE - 8) throw new IllegalStateException("measure/record: " + need + " selected positions do not fit one array");
            if (keptIndices.length < need) keptIndices = new int[(int) need];
            if (keptCounts.length < nTokens * units) keptCounts = new int[nTokens * units];
        }
        for (int i0 = 0; i0 < nTokens; i0 += chunk) {
            int tokens = Math.min(chunk, nTokens - i0), first = startPos + i0;
            for (int i = 0; i < tokens; i++) {
                int p = first + i;
                int sinkEnd = budget.sinkEnd(p), recentStart = budget.recentStart(p), slots = budget.policySlots(p);
                budgetValues[4 * i] = sinkEnd;
                budgetValues[4 * i + 1] = recentStart;
                budgetValues[4 * i + 2] = slots;
                budgetValues[4 * i + 3] = p;
                int count = slots >= recentStart - sinkEnd ? p + 1 : sinkEnd + slots + (p + 1 - recentStart);
                attended += (long) count * nHeads;
            }
            budgets.write(budgetValues, 0, 4 * tokens, 0);
            callQ.write(q, i0 * qDim, tokens * qDim, 0);
            if (state != null) {
                kernels.runScoring(keyPrecision, importanceKeys, importanceScales, groupStride, positionsPadded, dPrime, queries,
                        importanceDim, predictedRow + i0, OpenClKernels.ScoringGroups.perQueryHead(layer, keyGroupsPerLayer), headsPerUnit,
                        scoreScale, first, units, scores, stride, tokens);
            } else {
                uploadLayerQueries(layer, predictedRow + i0, tokens);
                var groups = new OpenClKernels.ScoringGroups(0, layer * keyGroupsPerLayer, perKvHead ? 1 : kvGroup);
                kernels.runScoring(keyPrecision, importanceKeys, importanceScales, groupStride, positionsPadded, dPrime, queries,
                        importanceDim, 0, groups, 1, scoreScale, first, units, scores, stride, tokens);
            }
            kernels.runTopK(scores, stride, units, budgets, indices, stride, counts, tokens);
            if (keepSelections) {
                counts.read(0, keptCounts, i0 * units, tokens * units);
                indices.read(0, keptIndices, i0 * units * stride, tokens * units * stride);
            }
            kernels.runAttention(callQ, qDim, keyMirror[layer], valueMirror[layer], mirror, kvDim, headSize, kvGroup, headsPerUnit, units,
                    indices, stride, counts, weights, stride, attentionScale, out, nHeads, tokens);
            out.read(0, result, i0 * qDim, tokens * qDim);
        }
        return attended;
    }

    /** v2: layer `layer`'s queries of the predictor's rows row0.. (one per query head, or per KV group) into {@link #queries}. */
    private void uploadLayerQueries(int layer, int row0, int tokens) {
        float[] src = perKvHead ? revised.groupQueries() : revised.queries();
        int width = importanceDim;
        if (layerQueries.length < tokens * width) layerQueries = new float[tokens * width];
        for (int i = 0; i < tokens; i++) System.arraycopy(src, ((row0 + i) * layers + layer) * width, layerQueries, i * width, width);
        ensureQueryRows(tokens);
        queries.write(layerQueries, 0, tokens * width, 0);
    }

    private void ensureCallBuffers(int tokens, int stride) {
        long values = (long) tokens * Math.max(units, nHeads) * stride;
        if (callQ != null && tokens <= callTokensCapacity && scores.bytes() >= values * 4) return;
        closeCallBuffers();
        callTokensCapacity = tokens;
        // Grown with headroom so that a decode step at a time does not reallocate every 64 positions, up to what
        // the whole context needs (rows are SCORE_GROUP-aligned, so the cap uses the same rounding), never below
        // what this call needs: PoCL's buffers are host memory, and a kernel writing past one corrupts the JVM's heap.
        long cap = (long) tokens * Math.max(units, nHeads) * OpenClKernels.roundUp(context, OpenClKernels.SCORE_GROUP);
        long grown = Math.max(values, Math.min(cap, 2 * values));
        callQ = ctx.buffer((long) tokens * qDim * 4, "queries of a call");
        out = ctx.buffer((long) tokens * qDim * 4, "attention output");
        budgets = ctx.buffer((long) tokens * 16, "budgets");
        counts = ctx.buffer((long) tokens * units * 4, "selection counts");
        scores = ctx.buffer(grown * 4, "importance scores");
        indices = ctx.buffer(grown * 4, "selected positions");
        weights = ctx.buffer(grown * 4, "attention weights");
    }

    private void closeCallBuffers() {
        // Reverse order of creation.
        for (ClBuffer b : new ClBuffer[]{weights, indices, scores, counts, budgets, out, callQ}) if (b != null) b.close();
        weights = indices = scores = counts = budgets = out = callQ = null;
    }

    /**
     * Gives up on the device. Under auto the CPU takes over: unless it holds the state already, it gets positions
     * [0, keep) of the device's predictor state and the first {@code queries} query rows of the last append.
     */
    private void fail(ClException e, int keep, int queries) {
        failed = true;
        if (explicit) {
            releaseBuffers();
            throw new UserError("attention: backend=opencl failed on device '" + deviceName + "': " + e.getMessage());
        }
        if (!hostCurrent) {
            try {
                handOver(keep, queries);
            } catch (ClException | IllegalArgumentException readBack) {
                releaseBuffers();
                throw new UserError("attention: backend=auto: device '" + deviceName + "' failed (" + e.getMessage() + ") and its"
                        + " predictor state could not be read back for the CPU to go on (" + readBack.getMessage() + ")");
            }
        }
        releaseBuffers();
        System.err.println("tokenbutler: attention backend opencl failed on device '" + deviceName + "' (" + e.getMessage()
                + "); continuing on the CPU (Vector API)");
    }

    /** The device's predictor state of positions [0, length) and queries of the last append into the CPU's {@link #state}. */
    private void handOver(int length, int queryCount) {
        int p = state.config().projDim();
        float[] k = new float[length * p], v = new float[length * p], q = new float[queryCount * importanceDim];
        predictorStep.readCache(length, k, v);
        if (queryCount > 0) queries.read(0, q, 0, queryCount * importanceDim);
        state.restore(length, k, v, q, queryCount,
                keys -> OpenClKernels.downloadKeys(keys, length, importanceKeys, importanceScales, groupStride, positionsPadded));
        hostCurrent = true;
    }

    @Override
    public int selection(int token, int unit, int[] out) {
        if (!keepSelections) throw new IllegalStateException("selections are kept only when opened for measure or record");
        int row = token * units + unit, count = keptCounts[row];
        System.arraycopy(keptIndices, row * keptStride, out, 0, count);
        return count;
    }

    @Override
    public void reset() {
        java.util.Arrays.fill(mirrored, 0);
        if (keysOnDevice != null) java.util.Arrays.fill(keysOnDevice, 0);
        deviceLength = appendCount = 0;
        hostCurrent = true;
    }

    private void releaseBuffers() {
        closeCallBuffers();
        if (queries != null) queries.close();
        queries = null;
        if (predictorStep != null) predictorStep.close();
        predictorStep = null;
        if (importanceScales != null) importanceScales.close();
        if (importanceKeys != null) importanceKeys.close();
        for (int l = layers - 1; l >= 1; l--) {
            if (valueMirror[l] != null) valueMirror[l].close();
            if (keyMirror[l] != null) keyMirror[l].close();
        }
    }

    @Override
    public void close() {
        synchronized (kernels) {
            releaseBuffers();
        }
    }
}
