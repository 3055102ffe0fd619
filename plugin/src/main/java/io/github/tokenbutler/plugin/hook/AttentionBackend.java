package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;

/**
 * Where the per-token work of sparse attention runs, chosen once by {@link AttentionBackends#choose} from the
 * {@code backend} and {@code device} options and handed to every hook opened with them.
 */
public interface AttentionBackend {
    /** What runs the work, for the log line: e.g. "cpu (Vector API)" or the OpenCL platform and device. */
    String description();

    /**
     * The offloaded attention of one model state, or null when the hook's own Vector API path does the work
     * (the CPU backend, or a policy or option the backend does not offload).
     * @param state the predictor's state (tokenbutler), else null
     */
    DeviceAttention open(ModelConfig config, AttentionOptions options, ImportanceState state);

    /** The CPU: the plugin's Vector API kernels on the runtime's thread pool. */
    AttentionBackend VECTOR_API = new AttentionBackend() {
        @Override public String description() { return "cpu (Vector API)"; }

        @Override public DeviceAttention open(ModelConfig config, AttentionOptions options, ImportanceState state) { return null; }
    };
}
