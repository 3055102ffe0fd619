package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class QuantizeCommand implements Command {
    @Override public String name() { return "quantize"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler quantize"; }
    @Override public int run(Args args) { throw new UserError("quantize is not implemented yet"); }
}
