package io.github.tokenbutler.tools;

/** One `./tokenbutler <name>` command. */
public interface Command {
    String name();

    /** One line for the command list. */
    String summary();

    /** Full usage text, shown by `--help` and after an option error. */
    String usage();

    /** Runs the command; a {@link io.github.tokenbutler.runtime.Llama3.UserError} becomes a one-line message and exit 2. */
    int run(Args args) throws Exception;
}
