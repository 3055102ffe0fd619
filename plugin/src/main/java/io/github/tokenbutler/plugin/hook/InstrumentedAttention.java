package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.runtime.Llama3.AttentionHook;

import java.util.Map;

/**
 * What benchmarks ask of an attention beyond the runtime's hook interface (which stays what a runtime needs):
 * a state filled as if a long prompt had run, and where the time went. {@code bench} uses it when the
 * attention it opened implements it.
 */
public interface InstrumentedAttention extends AttentionHook.Attention {
    /**
     * The runtime's cache positions 0..nTokens-1 were filled with synthetic keys and values instead of running
     * the model; make the per-sequence state consistent (synthetic importance keys, H2O's accumulated weights).
     */
    void syntheticPrefill(int nTokens, long seed);

    /** Bytes of predictor state (importance keys) stored per position; 0 without a predictor. */
    default long importanceKeyBytesPerPosition() { return 0; }

    /** Bytes of importance keys one decode step's scoring reads at a context of `positions` (re-reads counted). */
    default long importanceKeyBytesPerStep(int positions) { return 0; }

    /** Where the hook's time went since the last reset, e.g. {"predictor": ns, "selection": ns, "attention": ns}. */
    Map<String, Long> timingsNanos();
}
