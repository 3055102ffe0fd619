package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class EvalCommand implements Command {
    @Override public String name() { return "eval"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler eval"; }
    @Override public int run(Args args) { throw new UserError("eval is not implemented yet"); }
}
