package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.plugin.hook.AttentionBackend;
import io.github.tokenbutler.plugin.hook.AttentionBackendProvider;
import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.predictor.PredictorState;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

/** The CPU as a backend like any other: the plugin's Vector API kernels on the runtime's thread pool. */
public final class CpuBackend implements AttentionBackend {
    @Override public String description() { return "cpu (Vector API)"; }

    @Override
    public BackendAttention open(ModelConfig config, AttentionOptions options, PredictedScores predicted, PredictorState state) {
        return new CpuSparseAttention(config, options, predicted);
    }

    /** {@code backend=cpu}, listed in META-INF/services beside the offload providers. */
    public static final class Provider implements AttentionBackendProvider {
        private static final CpuBackend CPU = new CpuBackend();

        @Override public String name() { return "cpu"; }

        @Override public AttentionBackend open(String device, boolean explicit) {
            if (device != null) throw new UserError("attention: option 'device' needs an offload backend (backend=opencl or auto), got backend=cpu");
            return CPU;
        }
    }
}
