package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class ConvertTiktokenCommand implements Command {
    @Override public String name() { return "convert-tiktoken"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler convert-tiktoken"; }
    @Override public int run(Args args) { throw new UserError("convert-tiktoken is not implemented yet"); }
}
