package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.plugin.selection.SelectionSettings;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.plugin.selection.TokenSelector;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

import java.util.Arrays;

/**
 * The CPU backend's sparse attention of one model state: per selection unit (query head, or KV head with
 * gqa=kv) the {@link TokenSelector} picks the key positions and the {@link SparseAttentionKernel} attends
 * them. Units run in parallel on a {@link HeadWorkerPool}; inside a unit the tokens go in position order,
 * which is what keeps H2O's evictions identical between a batched call and one call per token. The policy's
 * per-sequence state (H2O's accumulated weights, Quest's page bounds) lives in its {@code Ranking}.
 *
 * <p>Parallel rounds are timed per thread; each round's wall time is split between predictor scoring,
 * selection and attention in proportion to the threads' time in them, so the parts add up to the wall time
 * (round synchronization counts as attention).
 */
public final class CpuSparseAttention implements BackendAttention {
    private final ModelConfig config;
    private final AttentionOptions options;
    private final TokenSelector selector;
    private final HeadWorkerPool pool;
    private final Worker[] workers;
    private final HeadWorkerPool.UnitTask unitTask = this::attendUnit;
    private final int headSize, qDim, headsPerUnit;

    // The call in progress, read by the workers (published by the pool's round start).
    private int callLayer, callStart, callTokens, callPredictedRow;
    private float[] callQ, callOut;
    private KvRows callKeys, callValues;
    private boolean callKeeps;
    /** With measure or record: the last call's selections, [token * units + unit]. */
    private int[][] kept = new int[0][];
    private int capacity;
    private long predictorNanos, selectionNanos;

    /** Per-thread buffers and counters, merged after each round. */
    private static final class Worker {
        final TokenSelector.Scratch selection;
        int[] indices = new int[0];
        float[] weights = new float[0];
        int weightStride;
        long attended;
        long predictorNanos, selectionNanos, attentionNanos;

        Worker(int headSize) { selection = new TokenSelector.Scratch(0, headSize); }
    }

    /** @param predicted the predictor's logits for the tokenbutler policy, else null */
    public CpuSparseAttention(ModelConfig config, AttentionOptions options, PredictedScores predicted) {
        this.config = config;
        this.options = options;
        SelectionPolicy policy = options.policy();
        this.selector = new TokenSelector(policy, new SelectionSettings(config, options.budget(), options.perKvHead(), predicted,
                options.seed(), options.recent(), options.pageSize()));
        this.headSize = config.headSize();
        this.qDim = config.qDim();
        this.headsPerUnit = selector.headsPerUnit();
        this.pool = options.threads() == 0 ? HeadWorkerPool.shared() : new HeadWorkerPool(options.threads(), "tokenbutler-" + policy.hookName);
        this.workers = new Worker[pool.threads()];
        for (int i = 0; i < workers.length; i++) workers[i] = new Worker(headSize);
    }

    /** The CPU reads the predictor's state directly: nothing to copy. */
    @Override public void predictorAppended(int startPos, int n) {}

    @Override
    public long attend(int layer, int startPos, int nTokens, int predictedRow, float[] q, KvRows keyCache, KvRows valueCache, float[] out) {
        long start = System.nanoTime();
        int end = startPos + nTokens;
        ensureCapacity(end);
        selector.prepare(layer, keyCache, end);
        long prepareNanos = System.nanoTime() - start;
        callLayer = layer;
        callStart = startPos;
        callTokens = nTokens;
        callPredictedRow = predictedRow;
        callQ = q;
        callKeys = keyCache;
        callValues = valueCache;
        callOut = out;
        callKeeps = options.measure() || layer == options.recordLayer();
        if (callKeeps && kept.length < nTokens * selector.units()) kept = new int[nTokens * selector.units()][];
        long pairs = SelectionStatistics.visiblePairs(config.nHeads(), startPos, nTokens);
        try {
            pool.run(selector.units(), unitTask, pairs >= PARALLEL_FROM_PAIRS);
        } finally {
            callQ = callOut = null;
            callKeys = callValues = null;
        }
        long attended = mergeWorkers(System.nanoTime() - start - prepareNanos);
        selectionNanos += prepareNanos;
        return attended;
    }

    // Below this many (query head, visible key) pairs a call runs on the caller alone: waking the workers costs
    // tens of microseconds, as much as a few thousand pairs of work.
    private static final long PARALLEL_FROM_PAIRS = 1 << 14;

    /** One selection unit, all tokens of the call in position order. Runs on any worker thread. */
    private void attendUnit(int unit, int worker) {
        Worker w = workers[worker];
        int firstHead = selector.firstHead(unit);
        int kvOff = selector.kvHead(unit) * headSize;
        for (int i = 0; i < callTokens; i++) {
            int p = callStart + i;
            int headOff = i * qDim + firstHead * headSize;
            long t0 = System.nanoTime();
            int count = selector.select(callLayer, unit, p, callQ, i, callPredictedRow + i, callKeys, w.selection, w.indices);
            long t1 = System.nanoTime();
            SparseAttentionKernel.attend(callQ, headOff, headsPerUnit, callKeys, callValues, kvOff, headSize,
                    w.indices, count, w.weights, w.weightStride, callOut, headOff);
            long t2 = System.nanoTime();
            selector.attended(callLayer, unit, w.indices, w.weights, w.weightStride, count);
            w.selectionNanos += (t1 - t0) + (System.nanoTime() - t2);
            w.attentionNanos += t2 - t1;
            w.attended += (long) count * headsPerUnit;
            if (callKeeps) kept[i * selector.units() + unit] = Arrays.copyOf(w.indices, count);
        }
        long predictorPart = w.selection.takePredictorNanos();
        w.predictorNanos += predictorPart;
        w.selectionNanos -= predictorPart;
    }

    /** Adds up the workers' counts; splits wallNanos between the parts. Returns the attended pairs. */
    private long mergeWorkers(long wallNanos) {
        long p = 0, s = 0, a = 0, attended = 0;
        for (Worker w : workers) {
            attended += w.attended;
            p += w.predictorNanos;
            s += w.selectionNanos;
            a += w.attentionNanos;
            w.attended = 0;
            w.predictorNanos = w.selectionNanos = w.attentionNanos = 0;
        }
        double total = (double) p + s + a;
        if (total > 0) {
            predictorNanos += Math.round(wallNanos * (p / total));
            selectionNanos += Math.round(wallNanos * (s / total));
        }
        return attended;
    }

    @Override
    public int selection(int token, int unit, int[] out) {
        int[] s = kept[token * selector.units() + unit];
        System.arraycopy(s, 0, out, 0, s.length);
        return s.length;
    }

    @Override public long takePredictorNanos() {
        long t = predictorNanos;
        predictorNanos = 0;
        return t;
    }

    @Override public long takeSelectionNanos() {
        long t = selectionNanos;
        selectionNanos = 0;
        return t;
    }

    private void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        int size = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(positions, 2L * capacity));
        for (Worker w : workers) {
            w.indices = new int[size];
            w.weightStride = size;
            w.weights = new float[size * headsPerUnit];
            w.selection.ensureCapacity(size);
        }
        capacity = size;
    }

    @Override
    public void syntheticFill(int nTokens, long seed) {
        selector.syntheticFill(config.nLayers(), nTokens, seed, workers[0].selection.topK);
    }

    @Override
    public void reset() {
        selector.reset();
        predictorNanos = selectionNanos = 0;
    }

    @Override public void close() { pool.close(); }
}
