package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.UserError;

/** Placeholder until implemented. */
public final class InspectCommand implements Command {
    @Override public String name() { return "inspect"; }
    @Override public String summary() { return "(not implemented yet)"; }
    @Override public String usage() { return "usage: ./tokenbutler inspect"; }
    @Override public int run(Args args) { throw new UserError("inspect is not implemented yet"); }
}
