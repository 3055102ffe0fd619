package io.github.tokenbutler.gguf;

/** The tokenizer.* metadata of a model being written: a vocabulary of {@link #size} tokens and what goes with it. */
public interface TokenizerKeys {
    /** The number of tokens, which sizes the embedding and output matrices. */
    int size();

    /** Writes the tokenizer.* keys. */
    void putInto(GgufWriter w);
}
