package io.github.tokenbutler.eval;

import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * --viz: the coverage image of one policy, one (layer, head), one sequence.
 * @param index which chunk (eval) or case (coref), 0-based
 */
public record Visualization(Path file, String policy, double sparsity, int layer, int head, int index) {

    /** Validates what can be checked before the model is loaded. */
    public Visualization {
        if (policy.equals(Policies.DENSE)) {
            throw new UserError("--viz-policy dense has nothing to show: dense attends every past token; pick a sparse policy ("
                    + String.join(", ", Policies.KNOWN.stream().filter(p -> !p.equals(Policies.DENSE)).toList()) + ")");
        }
        if (!(sparsity > 0 && sparsity < 1)) throw new UserError("--viz-sparsity must be between 0 and 1 (exclusive), got " + sparsity);
        if (index < 0) throw new UserError("--viz index must be 0 or more, got " + index);
    }

    /** The option value asking the plugin to record this head's selections. */
    String recordOption() { return layer + ":" + head; }

    /**
     * Runs the sequence once more under the policy with record=LAYER:HEAD and returns the recorded rows.
     * A separate run, so the measured runs carry no recording cost and record exactly one sequence.
     */
    List<int[]> record(Model model, int[] tokens, int length, Path predictor, Map<String, String> extra) {
        Map<String, String> options = Policies.options(policy, sparsity, predictor, extra, false, recordOption());
        try (PolicySession session = PolicySession.open(model, policy, options)) {
            SelectionStatistics stats = session.resetStatistics();
            if (stats == null) {
                throw new IllegalStateException("policy " + policy + " keeps no selection statistics, so it cannot record"
                        + " layer " + layer + " head " + head + " (its Attention does not implement StatisticsSource)");
            }
            SequenceModel.run(session, tokens, length, model.config().vocabSize(), (logits, first, rows) -> {});
            List<int[]> rows = new ArrayList<>(stats.recorded);
            if (rows.isEmpty()) {
                throw new IllegalStateException("policy " + policy + " recorded no selections for record=" + recordOption());
            }
            return rows;
        }
    }
}
