package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class CorefCommand implements Command {
    @Override public String name() { return "coref"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler coref"; }
    @Override public int run(Args args) { throw new UserError("coref is not implemented yet"); }
}
