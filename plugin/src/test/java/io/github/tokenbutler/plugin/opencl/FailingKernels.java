package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.KeyPrecision;

/**
 * OpenCL kernels on a shared context that fail as a lost device would: the device call numbered
 * {@code failingCall} (from 0, counting each predictor step's key store and each layer call's scoring, the one
 * launch of each per decode step) throws CL_OUT_OF_RESOURCES instead of launching. Everything before and after
 * runs the production code, the session's failure handling included.
 */
final class FailingKernels extends OpenClKernels {
    private int callsBeforeFailure;

    FailingKernels(ClContext ctx, int failingCall) {
        super(ctx, false);
        this.callsBeforeFailure = failingCall;
    }

    private void countCall() {
        if (callsBeforeFailure-- == 0) throw new ClException("injected failure (test): CL_OUT_OF_RESOURCES", -5);
    }

    @Override
    void runQuantize(KeyPrecision precision, ClBuffer src, int srcStride, int dPrime, int groups, ClBuffer keys, ClBuffer scales,
                     int groupStride, int scaleStride, int firstPos, int tokens) {
        countCall();
        super.runQuantize(precision, src, srcStride, dPrime, groups, keys, scales, groupStride, scaleStride, firstPos, tokens);
    }

    @Override
    void runScoring(KeyPrecision precision, ClBuffer keys, ClBuffer scales, int groupStride, int scaleStride, int dPrime,
                    ClBuffer queries, int queryStride, int firstQueryRow, ScoringGroups groups, int headsPerUnit, float scale,
                    int firstPos, int units, ClBuffer scores, int scoreStride, int tokens) {
        countCall();
        super.runScoring(precision, keys, scales, groupStride, scaleStride, dPrime, queries, queryStride, firstQueryRow, groups,
                headsPerUnit, scale, firstPos, units, scores, scoreStride, tokens);
    }
}
