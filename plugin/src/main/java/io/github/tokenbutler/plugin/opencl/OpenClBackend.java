package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionBackend;
import io.github.tokenbutler.plugin.hook.AttentionBackends;
import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.BackendAttention;
import io.github.tokenbutler.plugin.predictor.PredictorState;
import io.github.tokenbutler.plugin.selection.PredictedScores;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Locale;

/**
 * The OpenCL backend on one device: its built kernels, shared by every hook opened with it (calls are
 * serialized on the kernels' lock). What it offloads: the tokenbutler policy (scoring, top-k, attention, and a v1
 * predictor's step; a v2 predictor's small projections stay on the CPU).
 * The other policies run on the CPU (one line says so). With measure or record the selections come back to
 * the host after each call (the hit-rate's oracle runs on the CPU).
 */
final class OpenClBackend implements AttentionBackend {
    private final OpenClKernels kernels;
    private final boolean explicit;
    private boolean toldCpuPolicies, toldExtendedPredictor;

    OpenClBackend(OpenClKernels kernels, boolean explicit) {
        this.kernels = kernels;
        this.explicit = explicit;
    }

    @Override
    public String description() {
        ClDevice d = kernels.context().device();
        return String.format(Locale.ROOT, "opencl, platform '%s', device #%d '%s' (%s, %d compute units, %.1f GiB)", d.platformName(),
                d.index(), d.name(), d.type(), d.computeUnits(), d.globalMemBytes() / (double) (1L << 30));
    }

    @Override
    public synchronized BackendAttention open(ModelConfig config, AttentionOptions options, PredictedScores predicted, PredictorState state) {
        if (options.policy() != SelectionPolicy.TOKENBUTLER) {
            if (!toldCpuPolicies) {
                toldCpuPolicies = true;
                System.err.println("tokenbutler: attention backend opencl offloads the tokenbutler policy; "
                        + options.policy().hookName + " (and any other policy) runs on the CPU (Vector API)");
            }
            return AttentionBackends.cpu().open(config, options, predicted, state);
        }
        if (state == null) {
            if (!toldExtendedPredictor) System.err.println("tokenbutler: attention backend opencl runs the plain v1 predictor and v2; this one "
                    + "(v1 with an imported predictor's extensions) and its attention run on the CPU (Vector API)");
            toldExtendedPredictor = true;
            return AttentionBackends.cpu().open(config, options, predicted, null);
        }
        try {
            return new OpenClSparseAttention(kernels, explicit, config, options.budget(), options.perKvHead(), state,
                    options.measure() || options.recordLayer() >= 0, options.mirror());
        } catch (ClException e) {
            if (explicit) throw new UserError("attention: backend=opencl cannot set up this model's attention on device '"
                    + kernels.context().device().name() + "': " + e.getMessage());
            System.err.println("tokenbutler: attention backend opencl cannot set up this model's attention on device '"
                    + kernels.context().device().name() + "' (" + e.getMessage() + "); using the CPU (Vector API)");
            return AttentionBackends.cpu().open(config, options, predicted, state);
        }
    }
}
