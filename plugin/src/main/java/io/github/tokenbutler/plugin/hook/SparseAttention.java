package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.selection.HitRate;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.plugin.selection.SelectionUnits;
import io.github.tokenbutler.plugin.selection.StatisticsSource;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One model state's sparse attention under one policy, orchestration only: the predictor's step on each
 * token's layer-0 input, then per layer the backend's selection and attention ({@link BackendAttention}: the
 * CPU's kernels or a device), then the statistics. Layer 0 is left to the runtime's dense attention (attend
 * returns false; the predictor reads layer 0's input and the paper keeps layer 0 dense). When a device gives
 * up, the call (and the rest of the sequence) goes to the CPU backend.
 *
 * <p>Timings ({@link #timingsNanos}): "predictor" (the predictor's forward in {@link #attentionInput} and its
 * scoring), "selection" (ranking, top-k, page bounds, H2O's bookkeeping), "attention" (the kernel), and with
 * measure=true "measure" (the hit-rate's true logits); they add up to the time the hook took.
 */
public final class SparseAttention implements InstrumentedAttention, StatisticsSource {
    private final ModelConfig config;
    private final AttentionOptions options;
    private final PredictedScores predicted;
    private final BackendAttention backend;
    /** The CPU backend's attention, opened when a device gave up (or the backend itself when it is the CPU). */
    private BackendAttention cpu;
    private final SelectionStatistics statistics = new SelectionStatistics();
    private final SelectionUnits units;
    private final int headSize, qDim, headsPerUnit;

    // The predictor's last append: the query tokens it can score.
    private int appendStart = -1, appendCount;

    private long predictorNanos, selectionNanos, attentionNanos, measureNanos;

    // measure=true, record=...: a call's selections as the backend kept them, and the hit-rate against the true logits.
    private int[] selected = new int[0];
    private final HitRate hitRate;

    /** On the CPU backend. @param predicted the predictor's logits for the tokenbutler policy, else null */
    public SparseAttention(ModelConfig config, AttentionOptions options, PredictedScores predicted) {
        this(config, options, predicted, AttentionBackends.cpu().open(config, options, predicted, null));
    }

    /** @param backend the chosen backend's attention of this state ({@link AttentionBackend#open}) */
    public SparseAttention(ModelConfig config, AttentionOptions options, PredictedScores predicted, BackendAttention backend) {
        this.config = config;
        this.options = options;
        this.predicted = predicted;
        this.backend = Objects.requireNonNull(backend, "backend");
        this.headSize = config.headSize();
        this.qDim = config.qDim();
        this.units = SelectionUnits.of(config, options.perKvHead());
        this.headsPerUnit = units.headsPerUnit();
        this.hitRate = new HitRate(headSize);
    }

    public AttentionOptions options() { return options; }

    @Override
    public SelectionStatistics statistics() { return statistics; }

    @Override
    public void resetSequence() {
        if (predicted != null) predicted.reset();
        backend.reset();
        if (cpu != null && cpu != backend) cpu.reset();
        appendStart = -1;
        appendCount = 0;
        predictorNanos = selectionNanos = attentionNanos = measureNanos = 0;
    }

    @Override
    public void attentionInput(int layer, int startPos, int nTokens, float[] x) {
        if (predicted == null) return;
        long t0 = System.nanoTime();
        if (layer > 0) {
            predicted.layerInput(layer, startPos, nTokens, x);
            predictorNanos += System.nanoTime() - t0;
            return;
        }
        if (!backend.appendPredictor(startPos, nTokens, x)) {
            predicted.append(startPos, nTokens, x);
            backend.predictorAppended(startPos, nTokens);
        }
        predictorNanos += System.nanoTime() - t0;
        appendStart = startPos;
        appendCount = nTokens;
    }

    @Override
    public void keysBeforeRope(int layer, int startPos, int nTokens, float[] k) {
        if (predicted == null || layer == 0) return;
        long t0 = System.nanoTime();
        predicted.keysBeforeRope(layer, startPos, nTokens, k);
        predictorNanos += System.nanoTime() - t0;
    }

    @Override
    public boolean attend(int layer, int startPos, int nTokens, float[] q, KvRows keyCache, KvRows valueCache, float[] out) {
        if (layer == 0) {
            countDenseLayer(startPos, nTokens);
            return false;
        }
        long start = System.nanoTime();
        int end = startPos + nTokens;
        int predictedRow = 0;
        if (predicted != null) {
            if (appendStart < 0 || startPos < appendStart || end > appendStart + appendCount) {
                throw new IllegalStateException("tokenbutler: attention for positions " + startPos + ".." + (end - 1)
                        + " but the predictor last saw positions " + appendStart + ".." + (appendStart + appendCount - 1)
                        + " (the runtime must call attentionInput for every token before the layers' attention)");
            }
            predictedRow = startPos - appendStart;
            long t0 = System.nanoTime();
            predicted.keysWritten(layer, startPos, nTokens, keyCache);
            long t1 = System.nanoTime();
            predictorNanos += t1 - t0;
            start = t1;
        }
        BackendAttention used = backend;
        long attended = backend.attend(layer, startPos, nTokens, predictedRow, q, keyCache, valueCache, out);
        if (attended < 0) {
            if (cpu == null) cpu = AttentionBackends.cpu().open(config, options, predicted, null);
            used = cpu;
            attended = cpu.attend(layer, startPos, nTokens, predictedRow, q, keyCache, valueCache, out);
        }
        long visible = SelectionStatistics.visiblePairs(config.nHeads(), startPos, nTokens);
        statistics.visiblePairsSparseLayers += visible;
        statistics.visiblePairsAllLayers += visible;
        statistics.attendedPairsSparseLayers += attended;
        statistics.attendedPairsAllLayers += attended;
        long t0 = System.nanoTime();
        long predictorPart = used.takePredictorNanos(), selectionPart = used.takeSelectionNanos();
        predictorNanos += predictorPart;
        selectionNanos += selectionPart;
        attentionNanos += t0 - start - predictorPart - selectionPart;
        if (options.measure() || layer == options.recordLayer()) {
            measure(used, layer, startPos, nTokens, q, keyCache);
            measureNanos += System.nanoTime() - t0;
        }
        return true;
    }

    /** Hit-rate and recording of a call, from the selections the backend kept (on the calling thread). */
    private void measure(BackendAttention used, int layer, int startPos, int nTokens, float[] q, KvRows keyCache) {
        int rh = options.recordHead();
        ensureCapacity(startPos + nTokens);
        for (int i = 0; i < nTokens; i++) {
            int p = startPos + i;
            for (int unit = 0; unit < units.count(); unit++) {
                int count = used.selection(i, unit, selected);
                int firstHead = units.firstHead(unit), kvOff = units.kvHead(unit) * headSize;
                if (options.measure()) {
                    for (int h = 0; h < headsPerUnit; h++) {
                        statistics.hitRateSum += hitRate.of(q, i * qDim + (firstHead + h) * headSize, keyCache, kvOff, p, selected, count);
                        statistics.hitRateCount++;
                    }
                }
                if (layer == options.recordLayer() && rh >= firstHead && rh < firstHead + headsPerUnit) {
                    statistics.recorded.add(Arrays.copyOf(selected, count));
                }
            }
        }
    }

    /** Layer 0 attends everything: it counts as fully attended in the all-layers statistics. */
    private void countDenseLayer(int startPos, int nTokens) {
        long pairs = SelectionStatistics.visiblePairs(config.nHeads(), startPos, nTokens);
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

    private void ensureCapacity(int positions) {
        if (positions <= selected.length) return;
        selected = new int[(int) Math.min(Integer.MAX_VALUE - 8, Math.max(positions, 2L * selected.length))];
    }

    @Override
    public void syntheticPrefill(int nTokens, long seed) {
        resetSequence();
        if (predicted != null) predicted.syntheticFill(nTokens, seed);
        backend.syntheticFill(nTokens, seed);
    }

    @Override
    public long importanceKeyBytesPerPosition() { return predicted == null ? 0 : predicted.keyBytesPerPosition(); }

    @Override
    public long importanceKeyBytesPerStep(int positions) {
        return predicted == null ? 0 : predicted.keyBytesReadPerPosition(options.perKvHead()) * positions;
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
        if (cpu != null && cpu != backend) cpu.close();
        backend.close();
    }
}
