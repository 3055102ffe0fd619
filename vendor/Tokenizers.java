// Tokenizer implementations. Kept in this file while they are written; they move into Llama3.java
// (section 6) as package-private top-level classes, so no public class and no imports beyond Llama3's.
package io.github.tokenbutler.runtime;

final class Tokenizers {
    private Tokenizers() {}

    /** The tokenizer described by tokenizer.ggml.* metadata (model "llama" or "gpt2"); UserError otherwise. */
    static Llama3.Tokenizer fromGGUF(Llama3.GGUF gguf) {
        throw new UnsupportedOperationException("TODO(tokenizer)");
    }
}
