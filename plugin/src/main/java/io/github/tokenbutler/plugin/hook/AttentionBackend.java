package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.predictor.PredictorState;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

/**
 * Where the per-token work of sparse attention runs (the CPU's Vector API kernels, an OpenCL device), chosen
 * once by {@link AttentionBackends#choose} from the {@code backend} and {@code device} options and handed to
 * every hook opened with them. Every backend, the CPU included, is found by ServiceLoader through its
 * {@link AttentionBackendProvider}.
 */
public interface AttentionBackend {
    /** What runs the work, for the log line: e.g. "cpu (Vector API)" or the OpenCL platform and device. */
    String description();

    /**
     * The sparse attention of one model state. A backend that does not take a policy or an option hands the
     * work to the CPU backend ({@link AttentionBackends#cpu}) and says so once.
     * @param predicted the predictor's logits the CPU's selection reads (tokenbutler), else null
     * @param state     the predictor's state behind predicted (tokenbutler), else null (other policies, and an imported
     *                  v1 predictor with extensions, which only the CPU runs). A device runs a v1 step itself and
     *                  fills the v1 state only when it gives up and the CPU takes over; a v2 state stays the CPU's,
     *                  and a device copies its new importance keys and queries before each layer's scoring
     */
    BackendAttention open(ModelConfig config, AttentionOptions options, PredictedScores predicted, PredictorState state);
}
