package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class SynthPredictorCommand implements Command {
    @Override public String name() { return "synth-predictor"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler synth-predictor"; }
    @Override public int run(Args args) { throw new UserError("synth-predictor is not implemented yet"); }
}
