package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class BenchCommand implements Command {
    @Override public String name() { return "bench"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler bench"; }
    @Override public int run(Args args) { throw new UserError("bench is not implemented yet"); }
}
