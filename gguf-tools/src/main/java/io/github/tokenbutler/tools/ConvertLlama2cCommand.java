package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class ConvertLlama2cCommand implements Command {
    @Override public String name() { return "convert-llama2c"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler convert-llama2c"; }
    @Override public int run(Args args) { throw new UserError("convert-llama2c is not implemented yet"); }
}
