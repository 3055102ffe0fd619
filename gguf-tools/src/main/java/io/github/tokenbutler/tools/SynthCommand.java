package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class SynthCommand implements Command {
    @Override public String name() { return "synth"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler synth"; }
    @Override public int run(Args args) { throw new UserError("synth is not implemented yet"); }
}
