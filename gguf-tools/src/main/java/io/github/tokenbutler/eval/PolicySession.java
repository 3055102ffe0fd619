package io.github.tokenbutler.eval;

import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.plugin.selection.StatisticsSource;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;

import io.github.tokenbutler.progress.ProgressBar;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One policy attached to one model: its attention (opened once, as the hook contract asks: once per
 * state) and one model state reused for every sequence, each sequence starting at position 0 (which
 * resets the state and the attention's per-sequence data).
 *
 * <p>Why batched forwards are the paper's protocol: {@link Model#forward} with allLogits runs token i of
 * the batch at position startPos+i, and the plugin treats every token of a batch as a decode step at its
 * position (its selection sees only keys 0..startPos+i). So a forward over a chunk (or over consecutive
 * pieces of it, which only bounds the memory the logits take) gives, for every position, the logits
 * decoding would have produced under the policy, with the true tokens as history.
 */
public final class PolicySession implements SequenceModel, AutoCloseable {
    private final Model model;
    private final AttentionHook.Attention attention;
    private final State state;

    private PolicySession(Model model, AttentionHook.Attention attention) {
        this.model = model;
        this.attention = attention;
        this.state = model.newState(attention);
    }

    /** Dense attention: the runtime's own kernel (no hook). */
    public static PolicySession dense(Model model) {
        return new PolicySession(model, null);
    }

    /** A sparse policy: the attention hook of that name, opened with the given options. */
    public static PolicySession open(Model model, String policy, Map<String, String> options) {
        AttentionHook hook = Llama3.findAttentionHook(policy);
        AttentionHook.Attention attention = hook.open(model.info(), options);
        try {
            return new PolicySession(model, attention);
        } catch (RuntimeException e) {
            attention.close();
            throw e;
        }
    }

    /** What a harness does with one policy at one sparsity. */
    @FunctionalInterface
    public interface PolicyRun {
        void run(PolicySession session, String policy, double sparsity);
    }

    /**
     * Every sparse policy at every sparsity, in that order (the order of the results tables): each opened with the
     * harness options ({@link Policies#options}), handed to run, then closed. The bar steps off its line before a
     * session opens, because opening may print the attention backend it chose.
     */
    public static void forEachSparse(Model model, List<String> policies, List<Double> sparsities, Path predictor,
                                     Map<String, String> extraOptions, ProgressBar progress, PolicyRun run) {
        for (String policy : policies) {
            for (double sparsity : sparsities) {
                Map<String, String> options = Policies.options(policy, sparsity, predictor, extraOptions, true, null);
                progress.clear();
                try (PolicySession session = open(model, policy, options)) {
                    run.run(session, policy, sparsity);
                }
            }
        }
    }

    /** Positions [from, from+count): a forward at startPos = from (from 0 resets the state and the attention). */
    @Override
    public float[] logits(int[] tokens, int from, int count) {
        return model.forward(state, tokens, from, count, from, true);
    }

    /** The policy's statistics, reset to zero; null for dense or a policy that does not keep any. */
    public SelectionStatistics resetStatistics() {
        SelectionStatistics s = statistics();
        if (s != null) s.reset();
        return s;
    }

    /** The policy's statistics (accumulated since the last reset), or null when it keeps none. */
    public SelectionStatistics statistics() {
        return attention instanceof StatisticsSource source ? source.statistics() : null;
    }

    @Override
    public void close() {
        if (attention != null) attention.close();
    }
}
