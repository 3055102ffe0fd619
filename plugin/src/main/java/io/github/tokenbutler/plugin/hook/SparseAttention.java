package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.kernel.HeadWorkerPool;
import io.github.tokenbutler.plugin.kernel.SparseAttentionKernel;
import io.github.tokenbutler.plugin.selection.HeavyHitterCache;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.QuestPages;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.plugin.selection.StatisticsSource;
import io.github.tokenbutler.plugin.selection.TokenSelector;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.VectorMath;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One model state's sparse attention under one policy. Layer 0 is left to the runtime's dense attention
 * (attend returns false; the predictor reads layer 0's input and the paper keeps layer 0 dense). For every
 * other layer, each query token of a call is handled exactly like a decode step at its position: per
 * selection unit (query head, or KV head with gqa=kv) the {@link TokenSelector} picks the key positions and
 * the {@link SparseAttentionKernel} attends them. Units run in parallel on a {@link HeadWorkerPool}; inside a
 * unit the tokens go in position order, which is what keeps H2O's evictions identical between a batched call
 * and one call per token.
 *
 * <p>Timings ({@link #timingsNanos}): "predictor" (the predictor's forward in {@link #layer0Input} and its
 * scoring), "selection" (ranking, top-k, page bounds, H2O's bookkeeping), "attention" (the kernel), and with
 * measure=true "measure" (the hit-rate's true logits). Parallel rounds are timed per thread; each round's
 * wall time is split between the parts in proportion to the threads' time in them, so the parts add up to
 * the wall time the hook took (round synchronization counts as attention).
 */
public final class SparseAttention implements AttentionHook.Attention, StatisticsSource {
    // Below this many (query head, visible key) pairs a call runs on the caller alone: waking the workers costs
    // tens of microseconds, as much as a few thousand pairs of work.
    private static final long PARALLEL_FROM_PAIRS = 1 << 14;

    private final ModelConfig config;
    private final AttentionOptions options;
    private final TokenSelector selector;
    private final PredictedScores predicted;
    private final HeavyHitterCache heavyHitters;
    private final QuestPages pages;
    private final HeadWorkerPool pool;
    private final Worker[] workers;
    private final SelectionStatistics statistics = new SelectionStatistics();
    /** The offload backend's attention (e.g. OpenCL), or null: the Vector API path of this class does the work. */
    private final DeviceAttention device;
    private final HeadWorkerPool.UnitTask unitTask = this::attendUnit;
    private final int headSize, qDim, kvDim, headsPerUnit;
    private final float scale;

    // The call in progress, read by the workers (published by the pool's round start).
    private int callLayer, callStart, callTokens, callPredictedRow;
    private float[] callQ, callOut;
    private KvRows callKeys, callValues;

    // The predictor's last append: the query tokens it can score.
    private int appendStart = -1, appendCount;
    private int capacity;

    private long predictorNanos, selectionNanos, attentionNanos, measureNanos;

    /** Per-thread buffers and counters, merged after each round. */
    private static final class Worker {
        final TokenSelector.Scratch selection;
        int[] indices = new int[0], oracle = new int[0];
        float[] weights = new float[0], logits = new float[0];
        /** One key row's head slice, for the hit-rate's true logits on an f16 or q8_0 cache. */
        final float[] row;
        int weightStride;
        long visible, attended, hitCount;
        double hitSum;
        long predictorNanos, selectionNanos, attentionNanos, measureNanos;

        Worker(int headSize) {
            selection = new TokenSelector.Scratch(0, headSize);
            row = new float[headSize];
        }
    }

    /**
     * @param predicted the predictor's logits for the tokenbutler policy, else null
     */
    public SparseAttention(ModelConfig config, AttentionOptions options, PredictedScores predicted) {
        this(config, options, predicted, null);
    }

    /**
     * @param device the chosen backend's offloaded attention ({@link AttentionBackend#open}), or null for the CPU
     */
    public SparseAttention(ModelConfig config, AttentionOptions options, PredictedScores predicted, DeviceAttention device) {
        this.device = device;
        this.config = config;
        this.options = options;
        this.predicted = predicted;
        SelectionPolicy policy = options.policy();
        int units = options.perKvHead() ? config.nKvHeads() : config.nHeads();
        this.heavyHitters = policy == SelectionPolicy.H2O
                ? new HeavyHitterCache(config.nLayers(), units, options.budget(), options.recent()) : null;
        this.pages = policy == SelectionPolicy.QUEST
                ? new QuestPages(config.nLayers(), config.nKvHeads(), config.headSize(), options.pageSize()) : null;
        this.selector = new TokenSelector(policy, options.budget(), config, options.perKvHead(), predicted, heavyHitters,
                pages, options.seed());
        this.headSize = config.headSize();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.headsPerUnit = selector.headsPerUnit();
        this.scale = (float) (1.0 / Math.sqrt(headSize));
        this.pool = options.threads() == 0 ? HeadWorkerPool.shared() : new HeadWorkerPool(options.threads(), "tokenbutler-" + policy.hookName);
        this.workers = new Worker[pool.threads()];
        for (int i = 0; i < workers.length; i++) workers[i] = new Worker(headSize);
    }

    public AttentionOptions options() { return options; }

    @Override
    public SelectionStatistics statistics() { return statistics; }

    @Override
    public void resetSequence() {
        if (predicted != null) predicted.reset();
        if (heavyHitters != null) heavyHitters.reset();
        if (pages != null) pages.reset();
        if (device != null) device.reset();
        appendStart = -1;
        appendCount = 0;
        predictorNanos = selectionNanos = attentionNanos = measureNanos = 0;
    }

    @Override
    public void layer0Input(int startPos, int nTokens, float[] x) {
        if (predicted == null) return;
        long t0 = System.nanoTime();
        if (device == null || !device.appendPredictor(startPos, nTokens, x)) {
            predicted.append(startPos, nTokens, x);
            if (device != null) device.predictorAppended(startPos, nTokens);
        }
        predictorNanos += System.nanoTime() - t0;
        appendStart = startPos;
        appendCount = nTokens;
    }

    @Override
    public boolean attend(int layer, int startPos, int nTokens, float[] q, KvRows keyCache, KvRows valueCache, float[] out) {
        if (layer == 0) {
            countDenseLayer(startPos, nTokens);
            return false;
        }
        long start = System.nanoTime();
        int end = startPos + nTokens;
        ensureCapacity(end);
        if (predicted != null) {
            if (appendStart < 0 || startPos < appendStart || end > appendStart + appendCount) {
                throw new IllegalStateException("tokenbutler: attention for positions " + startPos + ".." + (end - 1)
                        + " but the predictor last saw positions " + appendStart + ".." + (appendStart + appendCount - 1)
                        + " (the runtime must call layer0Input for every token before the layers' attention)");
            }
            callPredictedRow = startPos - appendStart;
        }
        if (device != null) {
            long attended = device.attend(layer, startPos, nTokens, callPredictedRow, q, keyCache, valueCache, out);
            if (attended >= 0) {
                countOffloaded(startPos, nTokens, attended);
                long t0 = System.nanoTime();
                if (options.measure() || layer == options.recordLayer()) measureOffloaded(layer, startPos, nTokens, q, keyCache);
                long t1 = System.nanoTime();
                measureNanos += t1 - t0;
                attentionNanos += t0 - start;
                return true;
            }
        }
        long pagesNanos = 0;
        if (pages != null) {
            pages.update(layer, keyCache, end);
            pagesNanos = System.nanoTime() - start;
        }
        callLayer = layer;
        callStart = startPos;
        callTokens = nTokens;
        callQ = q;
        callKeys = keyCache;
        callValues = valueCache;
        callOut = out;
        long pairs = (long) config.nHeads() * nTokens * (startPos + (nTokens + 1) / 2);
        try {
            pool.run(selector.units(), unitTask, pairs >= PARALLEL_FROM_PAIRS);
        } finally {
            callQ = callOut = null;
            callKeys = callValues = null;
        }
        mergeWorkers(System.nanoTime() - start - pagesNanos);
        selectionNanos += pagesNanos;
        return true;
    }

    /** Statistics of a call the device attended: all its time counts as attention. */
    private void countOffloaded(int startPos, int nTokens, long attended) {
        long visible = (long) config.nHeads() * ((long) nTokens * startPos + (long) nTokens * (nTokens + 1) / 2);
        statistics.visiblePairsSparseLayers += visible;
        statistics.visiblePairsAllLayers += visible;
        statistics.attendedPairsSparseLayers += attended;
        statistics.attendedPairsAllLayers += attended;
    }

    /** Hit-rate and recording of a call the device attended, from the selections it kept (on the calling thread). */
    private void measureOffloaded(int layer, int startPos, int nTokens, float[] q, KvRows keyCache) {
        Worker w = workers[0];
        int rh = options.recordHead();
        callKeys = keyCache;
        try {
            for (int i = 0; i < nTokens; i++) {
                int p = startPos + i;
                for (int unit = 0; unit < selector.units(); unit++) {
                    int count = device.selection(i, unit, w.indices);
                    int firstHead = selector.firstHead(unit), kvOff = selector.kvHead(unit) * headSize;
                    if (options.measure()) {
                        for (int h = 0; h < headsPerUnit; h++) measureHitRate(w, q, i * qDim + (firstHead + h) * headSize, kvOff, p, count);
                    }
                    if (layer == options.recordLayer() && rh >= firstHead && rh < firstHead + headsPerUnit) {
                        statistics.recorded.add(Arrays.copyOf(w.indices, count));
                    }
                }
            }
        } finally {
            callKeys = null;
        }
        statistics.hitRateSum += w.hitSum;
        statistics.hitRateCount += w.hitCount;
        w.hitSum = 0;
        w.hitCount = 0;
    }

    /** Layer 0 attends everything: it counts as fully attended in the all-layers statistics. */
    private void countDenseLayer(int startPos, int nTokens) {
        long pairs = (long) config.nHeads() * ((long) nTokens * startPos + (long) nTokens * (nTokens + 1) / 2);
        statistics.visiblePairsAllLayers += pairs;
        statistics.attendedPairsAllLayers += pairs;
        if (options.recordLayer() == 0) {
            for (int i = 0; i < nTokens; i++) {
                int[] all = new int[startPos + i + 1];
                Arrays.setAll(all, t -> t);
                statistics.recorded.add(all);
            }
        }
    }

    /** One selection unit, all tokens of the call in position order. Runs on any worker thread. */
    private void attendUnit(int unit, int worker) {
        Worker w = workers[worker];
        int firstHead = selector.firstHead(unit);
        int kvOff = selector.kvHead(unit) * headSize;
        int rh = options.recordHead();
        boolean recording = callLayer == options.recordLayer() && rh >= firstHead && rh < firstHead + headsPerUnit;
        for (int i = 0; i < callTokens; i++) {
            int p = callStart + i;
            int headOff = i * qDim + firstHead * headSize;
            long t0 = System.nanoTime();
            int count = selector.select(callLayer, unit, p, callQ, i, callPredictedRow + i, callKeys, w.selection, w.indices);
            long t1 = System.nanoTime();
            SparseAttentionKernel.attend(callQ, headOff, headsPerUnit, callKeys, callValues, kvOff, headSize,
                    w.indices, count, w.weights, w.weightStride, callOut, headOff);
            long t2 = System.nanoTime();
            if (heavyHitters != null) {
                for (int h = 0; h < headsPerUnit; h++) heavyHitters.accumulate(callLayer, unit, w.indices, w.weights, h * w.weightStride, count);
            }
            long t3 = System.nanoTime();
            w.selectionNanos += (t1 - t0) + (t3 - t2);
            w.attentionNanos += t2 - t1;
            w.visible += (long) (p + 1) * headsPerUnit;
            w.attended += (long) count * headsPerUnit;
            if (options.measure()) {
                for (int h = 0; h < headsPerUnit; h++) measureHitRate(w, callQ, headOff + h * headSize, kvOff, p, count);
                w.measureNanos += System.nanoTime() - t3;
            }
            if (recording) statistics.recorded.add(Arrays.copyOf(w.indices, count));
        }
        long predictorPart = w.selection.takePredictorNanos();
        w.predictorNanos += predictorPart;
        w.selectionNanos -= predictorPart;
    }

    /**
     * |selected ∩ O| / |O| for one head at p, O = the ceil((p+1)/2) keys with the highest true logit (same
     * order as every top-k here: ties to the earlier key).
     */
    private void measureHitRate(Worker w, float[] q, int qOff, int kvOff, int p, int count) {
        int oracleSize = (p + 2) / 2;
        int hits;
        if (count == p + 1) {
            hits = oracleSize;
        } else {
            float[] logits = w.logits;
            for (int t = 0; t <= p; t++) logits[t] = callKeys.dot(t, kvOff, q, qOff, headSize, w.row) * scale;
            w.selection.topK.select(logits, 0, p + 1, oracleSize, w.oracle, 0);
            hits = 0;
            int a = 0, b = 0;
            int[] sel = w.indices, orc = w.oracle;
            while (a < count && b < oracleSize) {
                if (sel[a] < orc[b]) a++;
                else if (sel[a] > orc[b]) b++;
                else { hits++; a++; b++; }
            }
        }
        w.hitSum += (double) hits / oracleSize;
        w.hitCount++;
    }

    private void mergeWorkers(long wallNanos) {
        long p = 0, s = 0, a = 0, m = 0;
        for (Worker w : workers) {
            statistics.visiblePairsSparseLayers += w.visible;
            statistics.attendedPairsSparseLayers += w.attended;
            statistics.visiblePairsAllLayers += w.visible;
            statistics.attendedPairsAllLayers += w.attended;
            statistics.hitRateSum += w.hitSum;
            statistics.hitRateCount += w.hitCount;
            p += w.predictorNanos;
            s += w.selectionNanos;
            a += w.attentionNanos;
            m += w.measureNanos;
            w.visible = w.attended = w.hitCount = 0;
            w.hitSum = 0;
            w.predictorNanos = w.selectionNanos = w.attentionNanos = w.measureNanos = 0;
        }
        double total = (double) p + s + a + m;
        if (total <= 0) {
            attentionNanos += wallNanos;
            return;
        }
        long pw = Math.round(wallNanos * (p / total)), sw = Math.round(wallNanos * (s / total)), mw = Math.round(wallNanos * (m / total));
        predictorNanos += pw;
        selectionNanos += sw;
        measureNanos += mw;
        attentionNanos += wallNanos - pw - sw - mw;
    }

    private void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        int size = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(positions, 2L * capacity));
        for (Worker w : workers) {
            w.indices = new int[size];
            w.weightStride = size;
            w.weights = new float[size * headsPerUnit];
            if (options.measure()) {
                w.logits = new float[size];
                w.oracle = new int[size];
            }
            w.selection.ensureCapacity(size);
        }
        capacity = size;
    }

    @Override
    public void syntheticPrefill(int nTokens, long seed) {
        resetSequence();
        if (predicted != null) predicted.syntheticFill(nTokens, seed);
        if (device != null) device.predictorAppended(0, nTokens);
        if (heavyHitters != null) {
            workers[0].selection.topK.ensureCapacity(nTokens);
            heavyHitters.syntheticFill(1, config.nLayers(), nTokens, seed, workers[0].selection.topK);
        }
        // Quest builds its pages from the key cache on the next attend; the others keep no per-token state.
    }

    @Override
    public Map<String, Long> timingsNanos() {
        Map<String, Long> t = new LinkedHashMap<>();
        t.put("predictor", predictorNanos);
        t.put("selection", selectionNanos);
        t.put("attention", attentionNanos);
        if (options.measure()) t.put("measure", measureNanos);
        return t;
    }

    @Override
    public void close() {
        if (device != null) device.close();
        pool.close();
    }
}
