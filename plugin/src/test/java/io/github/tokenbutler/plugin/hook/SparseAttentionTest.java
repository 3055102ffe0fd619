package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.BudgetRule;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.ModelInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.ServiceLoader;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The hook driven directly with synthetic queries and K/V caches, the way the runtime drives it (attentionInput,
 * then attend per layer), compared with {@link DenseAttention}. The same checks through the real model's forward
 * pass are in StoriesEndToEndTest.
 */
class SparseAttentionTest {
    static final int LAYERS = 3, HEADS = 4, KV_HEADS = 2, HEAD_SIZE = 32, DIM = HEADS * HEAD_SIZE, CTX = 512; // heads of 32: a q8_0 block
    static final int Q_DIM = HEADS * HEAD_SIZE, KV_DIM = KV_HEADS * HEAD_SIZE;
    static final ModelConfig CONFIG = new ModelConfig(DIM, 64, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, 16, CTX, 1e-5f, 10000f);

    /** Stand-in predictor: a fixed pseudo-random logit per (layer, head, query position, key position). */
    static final class HashedScores implements PredictedScores {
        int appendStart = -1, appendCount;

        @Override public void reset() { appendStart = -1; }
        @Override public void append(int startPos, int n, float[] x) { appendStart = startPos; appendCount = n; }
        @Override public void scores(int i, int layer, int head, int count, float[] out) {
            assertTrue(i >= 0 && i < appendCount, "query token " + i + " of an append of " + appendCount);
            int p = appendStart + i;
            for (int t = 0; t < count; t++) out[t] = logit(layer, head, p, t);
        }
        @Override public void groupScores(int i, int layer, int kvHead, int count, float[] out) {
            int p = appendStart + i, group = HEADS / KV_HEADS;
            for (int t = 0; t < count; t++) {
                float s = 0;
                for (int h = 0; h < group; h++) s += logit(layer, kvHead * group + h, p, t);
                out[t] = s / group;
            }
        }
        @Override public void syntheticFill(int n, long seed) { appendStart = n; appendCount = 0; }

        static float logit(int layer, int head, int p, int t) {
            long z = ((long) layer * 1_000_003 + head) * 1_000_033 + (long) p * 65_537 + t;
            z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
            z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
            return (float) ((z >>> 40) * 0x1.0p-24 * 8 - 4);
        }
    }

    /** Queries and K/V caches of every layer for CTX positions (what the runtime would have computed). */
    record Sequence(float[][] q, float[][] keys, float[][] values, float[] x, KvType type) {
        Sequence {
            Objects.requireNonNull(type);
        }

        /** Layer l's keys (or values) as the runtime would store them in a cache of this sequence's type. */
        KvRows keyRows(int l) { return KvRows.of(type, keys[l], KV_DIM, HEAD_SIZE); }
        KvRows valueRows(int l) { return KvRows.of(type, values[l], KV_DIM, HEAD_SIZE); }

        Sequence stored(KvType t) { return new Sequence(q, keys, values, x, t); }

        static Sequence random(long seed) {
            Random rnd = new Random(seed);
            float[][] q = new float[LAYERS][CTX * Q_DIM], k = new float[LAYERS][CTX * KV_DIM], v = new float[LAYERS][CTX * KV_DIM];
            for (int l = 0; l < LAYERS; l++) {
                // Larger queries than keys: peaked attention, so the choice of tokens matters.
                for (int i = 0; i < q[l].length; i++) q[l][i] = (float) (2.5 * rnd.nextGaussian());
                for (int i = 0; i < k[l].length; i++) k[l][i] = (float) rnd.nextGaussian();
                for (int i = 0; i < v[l].length; i++) v[l][i] = (float) rnd.nextGaussian();
            }
            float[] x = new float[CTX * DIM];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            return new Sequence(q, k, v, x, KvType.F32);
        }
    }

    static SparseAttention open(SelectionPolicy policy, Map<String, String> options) {
        return open(policy, options, policy == SelectionPolicy.TOKENBUTLER ? new HashedScores() : null);
    }

    static SparseAttention open(SelectionPolicy policy, Map<String, String> options, PredictedScores predicted) {
        Map<String, String> o = new HashMap<>(options);
        if (policy == SelectionPolicy.TOKENBUTLER) o.putIfAbsent("predictor", "in-test");
        return new SparseAttention(CONFIG, AttentionOptions.parse(policy, o, CONFIG), predicted);
    }

    /**
     * Runs positions 0..end-1 in the given chunks through the attention; returns [layer][position*Q_DIM] outputs
     * (layer 0: the dense attention the runtime runs when attend returns false). With hideFuture the caches
     * handed over hold NaN beyond the chunk, as a decoding runtime's would hold nothing yet.
     */
    static float[][] run(AttentionHook.Attention attention, Sequence s, int[] chunkEnds, boolean hideFuture) {
        float[][] outs = new float[LAYERS][chunkEnds[chunkEnds.length - 1] * Q_DIM];
        int start = 0;
        for (int end : chunkEnds) {
            int n = end - start;
            attention.attentionInput(0, start, n, Arrays.copyOfRange(s.x, start * DIM, end * DIM));
            for (int layer = 0; layer < LAYERS; layer++) {
                float[] q = Arrays.copyOfRange(s.q[layer], start * Q_DIM, end * Q_DIM);
                float[] keys = s.keys[layer], values = s.values[layer];
                if (hideFuture) {
                    keys = keys.clone();
                    values = values.clone();
                    Arrays.fill(keys, end * KV_DIM, keys.length, Float.NaN);
                    Arrays.fill(values, end * KV_DIM, values.length, Float.NaN);
                }
                float[] out = new float[n * Q_DIM];
                KvRows k = KvRows.of(s.type(), keys, KV_DIM, HEAD_SIZE), v = KvRows.of(s.type(), values, KV_DIM, HEAD_SIZE);
                boolean handled = attention.attend(layer, start, n, q, k, v, out);
                assertEquals(layer != 0, handled, "layer 0 goes back to the runtime's dense attention");
                if (!handled) DenseAttention.attend(CONFIG, start, n, q, k, v, out, new float[CONFIG.kvGroup() * CTX]);
                System.arraycopy(out, 0, outs[layer], start * Q_DIM, n * Q_DIM);
            }
            start = end;
        }
        return outs;
    }

    static float[][] dense(Sequence s, int[] chunkEnds) {
        float[][] outs = new float[LAYERS][chunkEnds[chunkEnds.length - 1] * Q_DIM];
        int start = 0;
        for (int end : chunkEnds) {
            int n = end - start;
            for (int layer = 0; layer < LAYERS; layer++) {
                float[] q = Arrays.copyOfRange(s.q[layer], start * Q_DIM, end * Q_DIM);
                float[] out = new float[n * Q_DIM];
                DenseAttention.attend(CONFIG, start, n, q, s.keyRows(layer), s.valueRows(layer), out, new float[CONFIG.kvGroup() * CTX]);
                System.arraycopy(out, 0, outs[layer], start * Q_DIM, n * Q_DIM);
            }
            start = end;
        }
        return outs;
    }

    static int[] oneByOne(int end) {
        int[] c = new int[end];
        for (int i = 0; i < end; i++) c[i] = i + 1;
        return c;
    }

    static void assertBitwiseEqual(float[][] expected, float[][] actual, String what) {
        for (int l = 0; l < expected.length; l++) {
            for (int i = 0; i < expected[l].length; i++) {
                if (Float.floatToRawIntBits(expected[l][i]) != Float.floatToRawIntBits(actual[l][i])) {
                    fail(what + ": layer " + l + " position " + i / Q_DIM + " element " + i % Q_DIM + ": expected "
                            + expected[l][i] + " got " + actual[l][i]);
                }
            }
        }
    }

    static double meanSquaredDifference(float[][] a, float[][] b) {
        double sum = 0;
        long n = 0;
        for (int l = 1; l < a.length; l++) {
            for (int i = 0; i < a[l].length; i++) {
                double d = a[l][i] - b[l][i];
                sum += d * d;
                n++;
            }
        }
        return sum / n;
    }

    static java.util.stream.Stream<Arguments> kvTypesAndPolicies() {
        return Arrays.stream(KvType.values()).flatMap(kv -> Arrays.stream(SelectionPolicy.values()).map(p -> Arguments.of(kv, p)));
    }

    /** For every KV cache type: the sparse kernel reads the stored rows exactly as the dense one does. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kvTypesAndPolicies")
    void sparsityZeroOrAFullBudgetGivesDenseAttentionBitForBitUnderEveryPolicy(KvType kv, SelectionPolicy policy) {
        Sequence s = Sequence.random(1).stored(kv);
        int[] chunks = {100, 101, 230, 231, 232, 300};
        float[][] dense = dense(s, chunks);
        for (String gqa : new String[]{"head", "kv"}) {
            for (Map<String, String> budget : List.of(Map.of("sparsity", "0"), Map.of("budget", Integer.toString(CTX)))) {
                Map<String, String> o = new HashMap<>(budget);
                o.put("gqa", gqa);
                try (SparseAttention a = open(policy, o)) {
                    assertBitwiseEqual(dense, run(a, s, chunks, false), policy.hookName + " " + o + " " + kv);
                    SelectionStatistics st = a.statistics();
                    assertEquals(st.visiblePairsSparseLayers, st.attendedPairsSparseLayers);
                    assertEquals(0.0, st.effectiveSparsityAllLayers());
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(SelectionPolicy.class)
    void aBatchedCallIsTheSameAsOneDecodeStepPerTokenUnderEveryPolicy(SelectionPolicy policy) {
        Sequence s = Sequence.random(2);
        int end = 300;
        for (String gqa : new String[]{"head", "kv"}) {
            Map<String, String> o = new HashMap<>(Map.of("sparsity", "0.6", "sinks", "2", "window", "3", "gqa", gqa));
            float[][] batched, stepped;
            SelectionStatistics bs, ss;
            try (SparseAttention a = open(policy, o)) { // the runtime's pool
                batched = run(a, s, new int[]{37, end}, false);
                bs = a.statistics();
            }
            o.put("threads", "2");
            try (SparseAttention a = open(policy, o)) { // a pool of our own
                assertBitwiseEqual(batched, run(a, s, new int[]{20, 21, end}, false), policy.hookName + " own pool");
            }
            o.put("threads", "1");
            try (SparseAttention a = open(policy, o)) {
                stepped = run(a, s, oneByOne(end), true);
                ss = a.statistics();
            }
            String what = policy.hookName + " gqa=" + gqa;
            assertBitwiseEqual(batched, stepped, what);
            assertEquals(bs.attendedPairsSparseLayers, ss.attendedPairsSparseLayers, what);
            assertEquals(bs.visiblePairsAllLayers, ss.visiblePairsAllLayers, what);
            assertTrue(bs.effectiveSparsitySparseLayers() > 0.4, what + " skips tokens: " + bs.effectiveSparsitySparseLayers());
        }
    }

    @Test
    void statisticsCountVisibleAndAttendedPairsWithLayerZeroFullyAttended() {
        Sequence s = Sequence.random(3);
        int end = 200;
        BudgetRule rule = new BudgetRule(0.75, 0, 4, 0);
        long visible = 0, attended = 0;
        for (int p = 0; p < end; p++) {
            visible += p + 1;
            attended += Math.max(rule.keep(p), rule.mandatory(p));
        }
        try (SparseAttention a = open(SelectionPolicy.STREAMING, Map.of("sparsity", "0.75"))) {
            run(a, s, new int[]{50, end}, false);
            SelectionStatistics st = a.statistics();
            int sparseLayers = LAYERS - 1;
            assertEquals(visible * HEADS * sparseLayers, st.visiblePairsSparseLayers);
            assertEquals(attended * HEADS * sparseLayers, st.attendedPairsSparseLayers);
            assertEquals(visible * HEADS * LAYERS, st.visiblePairsAllLayers);
            assertEquals(attended * HEADS * sparseLayers + visible * HEADS, st.attendedPairsAllLayers);
            assertEquals(0, st.hitRateCount, "no hit-rate without measure=true");
            assertTrue(Double.isNaN(st.hitRate()));
            assertTrue(st.recorded.isEmpty());
        }
    }

    @Test
    void oracleAtHalfSparsityHitsTheOracleSetAndBeatsRandomOnHitRateAndOutputError() {
        Sequence s = Sequence.random(4);
        int[] chunks = {256};
        float[][] dense = dense(s, chunks);
        Map<String, String> o = Map.of("sparsity", "0.5", "sinks", "0", "measure", "true");
        double oracleHit, randomHit, oracleError, randomError;
        try (SparseAttention a = open(SelectionPolicy.ORACLE, o)) {
            oracleError = meanSquaredDifference(dense, run(a, s, chunks, false));
            oracleHit = a.statistics().hitRate();
            assertEquals((long) 256 * HEADS * (LAYERS - 1), a.statistics().hitRateCount);
            assertTrue(a.timingsNanos().containsKey("measure"));
        }
        try (SparseAttention a = open(SelectionPolicy.RANDOM, o)) {
            randomError = meanSquaredDifference(dense, run(a, s, chunks, false));
            randomHit = a.statistics().hitRate();
        }
        // The oracle misses only when the current token (always kept) is outside the top half.
        assertTrue(oracleHit > 0.97, "oracle hit-rate " + oracleHit);
        assertTrue(randomHit > 0.4 && randomHit < 0.65, "random hit-rate " + randomHit);
        assertTrue(oracleError < randomError / 5, "oracle error " + oracleError + " vs random " + randomError);
    }

    @Test
    void recordKeepsOneHeadsSelectedPositionsPerQueryPosition() {
        Sequence s = Sequence.random(5);
        try (SparseAttention a = open(SelectionPolicy.STREAMING, Map.of("sparsity", "0.75", "record", "1:2"))) {
            run(a, s, new int[]{10, 11, 120}, false);
            List<int[]> rows = a.statistics().recorded;
            assertEquals(120, rows.size());
            BudgetRule rule = a.options().budget();
            for (int p = 0; p < 120; p++) {
                int[] row = rows.get(p);
                assertEquals(Math.max(rule.keep(p), rule.mandatory(p)), row.length, "p=" + p);
                assertEquals(p, row[row.length - 1]);
                for (int j = 0; j < Math.min(4, p + 1); j++) assertEquals(j, row[j], "sinks first");
            }
        }
        try (SparseAttention a = open(SelectionPolicy.ORACLE, Map.of("sparsity", "0.75", "record", "0:1"))) {
            run(a, s, new int[]{30}, false);
            List<int[]> rows = a.statistics().recorded;
            assertEquals(30, rows.size());
            for (int p = 0; p < 30; p++) assertEquals(p + 1, rows.get(p).length, "layer 0 attends everything");
        }
        try (SparseAttention a = open(SelectionPolicy.QUEST, Map.of("sparsity", "0.75", "record", "2:3", "gqa", "kv"))) {
            run(a, s, new int[]{64}, false);
            assertEquals(64, a.statistics().recorded.size(), "head 3's KV group's selection");
        }
    }

    @ParameterizedTest
    @EnumSource(SelectionPolicy.class)
    void syntheticPrefillThenADecodeStepWorksUnderEveryPolicyAndReportsTimings(SelectionPolicy policy) {
        Sequence s = Sequence.random(6);
        int n = 400;
        try (SparseAttention a = open(policy, Map.of("sparsity", "0.75"))) {
            a.syntheticPrefill(n, 11);
            a.attentionInput(0, n, 1, Arrays.copyOfRange(s.x, n * DIM, (n + 1) * DIM));
            for (int layer = 1; layer < LAYERS; layer++) {
                float[] out = new float[Q_DIM];
                float[] keys = s.keys[layer].clone();
                Arrays.fill(keys, (n + 1) * KV_DIM, keys.length, Float.NaN);
                assertTrue(a.attend(layer, n, 1, Arrays.copyOfRange(s.q[layer], n * Q_DIM, (n + 1) * Q_DIM), KvRows.wrap(keys, KV_DIM),
                        s.valueRows(layer), out));
                for (float v : out) assertTrue(Float.isFinite(v), policy.hookName);
            }
            Map<String, Long> t = a.timingsNanos();
            assertEquals(List.of("predictor", "selection", "attention"), new ArrayList<>(t.keySet()));
            assertTrue(t.values().stream().allMatch(v -> v >= 0));
            assertTrue(t.get("attention") > 0);
            long attended = a.statistics().attendedPairsSparseLayers;
            BudgetRule rule = a.options().budget();
            assertEquals((long) Math.max(rule.keep(n), rule.mandatory(n)) * HEADS * (LAYERS - 1), attended, policy.hookName);
            a.resetSequence();
            assertEquals(0L, a.timingsNanos().get("attention"));
        }
    }

    @Test
    void h2oRefusesPositionsThatSkipAhead() {
        Sequence s = Sequence.random(7);
        try (SparseAttention a = open(SelectionPolicy.H2O, Map.of("sparsity", "0.5"))) {
            run(a, s, new int[]{5}, false);
            float[] q = Arrays.copyOfRange(s.q[1], 10 * Q_DIM, 11 * Q_DIM);
            assertThrows(IllegalStateException.class, () -> a.attend(1, 10, 1, q, s.keyRows(1), s.valueRows(1), new float[Q_DIM]));
        }
    }

    @Test
    void tokenbutlerNeedsTheLayerZeroInputOfTheTokensItAttendsFor() {
        Sequence s = Sequence.random(8);
        try (SparseAttention a = open(SelectionPolicy.TOKENBUTLER, Map.of("sparsity", "0.5"))) {
            float[] q = Arrays.copyOfRange(s.q[1], 0, 3 * Q_DIM);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> a.attend(1, 0, 3, q, s.keyRows(1), s.valueRows(1), new float[3 * Q_DIM]));
            assertTrue(e.getMessage().contains("attentionInput"), e.getMessage());
        }
    }

    @Test
    void aRandomWeightPredictorDrivesTheTokenbutlerPolicy() {
        PredictorConfig pc = PredictorConfig.forModel(CONFIG, "in-test", 0, 0, 0, 0);
        ModelFingerprint fp = new ModelFingerprint("in-test", DIM, LAYERS, HEADS, KV_HEADS, HEAD_SIZE, 16, "in-test",
                new float[ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS]);
        TokenButlerPredictor predictor = TokenButlerPredictor.of(pc, PredictorWeights.random(pc, 3), fp);
        Sequence s = Sequence.random(9);
        int[] chunks = {120, 121, 160};
        float[][] dense = dense(s, chunks);
        try (SparseAttention a = open(SelectionPolicy.TOKENBUTLER, Map.of("sparsity", "0"), PredictedScores.of(predictor.newState(CTX)))) {
            assertBitwiseEqual(dense, run(a, s, chunks, false), "tokenbutler at sparsity 0");
        }
        try (SparseAttention a = open(SelectionPolicy.TOKENBUTLER, Map.of("sparsity", "0.5", "gqa", "kv", "measure", "true"),
                PredictedScores.of(predictor.newState(CTX)))) {
            float[][] out = run(a, s, chunks, false);
            for (float[] layer : out) for (float v : layer) assertTrue(Float.isFinite(v));
            SelectionStatistics st = a.statistics();
            assertTrue(st.effectiveSparsitySparseLayers() > 0.4, "sparsity " + st.effectiveSparsitySparseLayers());
            assertTrue(st.hitRate() > 0 && st.hitRate() < 1, "hit-rate " + st.hitRate());
            assertTrue(a.timingsNanos().get("predictor") > 0);
        }
    }

    @ParameterizedTest
    @EnumSource(SelectionPolicy.class)
    void everyPolicyIsAHookFoundByServiceLoaderUnderItsName(SelectionPolicy policy) {
        Map<String, AttentionHook> found = new HashMap<>();
        for (AttentionHook h : ServiceLoader.load(AttentionHook.class)) found.put(h.name(), h);
        AttentionHook h = found.get(policy.hookName);
        assertNotNull(h, policy.hookName + " among " + found.keySet());
        assertFalse(h.description().isBlank());
        if (policy != SelectionPolicy.TOKENBUTLER) {
            try (AttentionHook.Attention a = h.open(new ModelInfo(CONFIG, null, null), Map.of("sparsity", "0.25"))) {
                assertInstanceOf(SparseAttention.class, a);
            }
        }
        UserError e = assertThrows(UserError.class, () -> found.get("tokenbutler").open(new ModelInfo(CONFIG, null, null),
                Map.of("predictor", "/nonexistent/p.gguf")));
        assertTrue(e.getMessage().contains("/nonexistent/p.gguf"), e.getMessage());
    }
}
