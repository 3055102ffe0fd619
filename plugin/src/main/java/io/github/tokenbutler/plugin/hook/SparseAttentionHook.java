package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.PredictorState;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.Predictor;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.ModelInfo;

import java.util.Map;

/**
 * The plugin's attention hooks, one name per selection policy, all opening the same {@link SparseAttention}.
 * ServiceLoader needs a public no-argument class per name, hence the small subclasses; they are listed in
 * META-INF/services/io.github.tokenbutler.runtime.Llama3$AttentionHook.
 */
public abstract class SparseAttentionHook implements AttentionHook {
    private final SelectionPolicy policy;

    protected SparseAttentionHook(SelectionPolicy policy) { this.policy = policy; }

    public SelectionPolicy policy() { return policy; }

    @Override public String name() { return policy.hookName; }

    @Override public String description() { return policy.description; }

    @Override
    public SparseAttention open(ModelInfo model, Map<String, String> options) {
        AttentionOptions parsed = AttentionOptions.parse(policy, options, model.config());
        // Chosen before the predictor loads, so that an unusable backend=opencl fails fast.
        AttentionBackend backend = AttentionBackends.choose(parsed.backend(), parsed.device());
        PredictedScores predicted = null;
        PredictorState state = null;
        if (policy == SelectionPolicy.TOKENBUTLER) {
            int context = model.config().contextLength();
            switch (Predictor.load(parsed.predictor(), model)) {
                case RevisedPredictor p -> {
                    RevisedImportanceState revised = p.newState(context, parsed.keyPrecision(), parsed.perKvHead());
                    predicted = PredictedScores.of(revised);
                    state = revised;
                }
                case TokenButlerPredictor p -> {
                    ImportanceState v1 = parsed.keyPrecision() == null ? p.newState(context) : p.newState(context, parsed.keyPrecision());
                    predicted = PredictedScores.of(v1);
                    // a device runs the plain v1 step only: an imported predictor's extensions keep it on the CPU
                    state = p.config().extended() ? null : v1;
                }
            }
        }
        return new SparseAttention(model.config(), parsed, predicted, backend.open(model.config(), parsed, predicted, state));
    }

    /** {@code tokenbutler}: the learned predictor's logits. */
    public static final class TokenButler extends SparseAttentionHook {
        public TokenButler() { super(SelectionPolicy.TOKENBUTLER); }
    }

    /** {@code oracle}: the true q·k logits. */
    public static final class Oracle extends SparseAttentionHook {
        public Oracle() { super(SelectionPolicy.ORACLE); }
    }

    /** {@code streaming}: sinks and the most recent tokens. */
    public static final class Streaming extends SparseAttentionHook {
        public Streaming() { super(SelectionPolicy.STREAMING); }
    }

    /** {@code h2o}: heavy hitters and recent tokens, permanent eviction. */
    public static final class HeavyHitters extends SparseAttentionHook {
        public HeavyHitters() { super(SelectionPolicy.H2O); }
    }

    /** {@code quest}: pages ranked by their key bounds. */
    public static final class Quest extends SparseAttentionHook {
        public Quest() { super(SelectionPolicy.QUEST); }
    }

    /** {@code random}: seeded random tokens. */
    public static final class RandomTokens extends SparseAttentionHook {
        public RandomTokens() { super(SelectionPolicy.RANDOM); }
    }
}
