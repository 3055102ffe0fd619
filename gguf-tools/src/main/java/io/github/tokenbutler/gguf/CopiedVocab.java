package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The vocabulary of another GGUF file (a model, or a vocabulary-only file such as convert-tiktoken or llama.cpp's
 * ggml-vocab-*.gguf write): every tokenizer.* key with its type (tokenizer.ggml.model, tokens, scores, token_type,
 * merges, pre, the special token ids and add_* flags, tokenizer.chat_template), so that a random model speaks a
 * real vocabulary. The keys are checked by building the runtime's tokenizer from them.
 */
public record CopiedVocab(Path source, int size, Map<String, GgufWriter.MetadataValue> keys) implements TokenizerKeys {
    public CopiedVocab {
        keys = Collections.unmodifiableMap(new LinkedHashMap<>(keys)); // in the source's order
    }

    /** The tokenizer keys of file; a UserError naming the file when it is no GGUF or holds no vocabulary the runtime reads. */
    public static CopiedVocab read(Path file, String what) {
        try (GGUF gguf = GGUF.read(file)) {
            if (gguf.get("tokenizer.ggml.model") == null) {
                throw new UserError(what + " " + file + " has no vocabulary: metadata key tokenizer.ggml.model is missing; expected a GGUF with "
                        + "tokenizer.ggml.* keys (a model, or a vocabulary file such as convert-tiktoken writes)");
            }
            Llama3.Tokenizer tokenizer = Llama3.tokenizerFromGGUF(gguf);
            Map<String, GgufWriter.MetadataValue> keys = new LinkedHashMap<>();
            for (String key : gguf.metadata().keySet()) {
                if (!key.startsWith("tokenizer.")) continue;
                keys.put(key, new GgufWriter.MetadataValue(gguf.valueTypes().get(key), gguf.arrayElementTypes().get(key), gguf.metadata().get(key)));
            }
            return new CopiedVocab(file, tokenizer.vocabSize(), keys);
        }
    }

    @Override public void putInto(GgufWriter w) {
        keys.forEach((key, v) -> w.put(key, v.type(), v.elementType(), v.value()));
    }
}
