package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * What the server needs of a model. The server calls {@link #generate} from one thread only (the queue's worker);
 * the other methods from any thread. Production wraps a {@link Generator}; tests can put a model here whose speed
 * they control.
 */
public interface TextModel extends AutoCloseable {
    /** The name /v1/models lists and every response carries. */
    String id();

    int contextLength();

    /** False: chat messages are continued as plain text (the model has no chat template). */
    boolean hasChatTemplate();

    /** How many tokens the request's prompt or messages take (so that a too-long one is refused before it waits). */
    int promptTokens(GenerationRequest request);

    /** Generates the request's text; onText gets it piece by piece; params.cancel() is asked after every token. */
    Completion generate(GenerationRequest request, GenerationParams params, Consumer<String> onText);

    @Override void close();

    /** A loaded {@link Generator}, named after its file (without .gguf). */
    static TextModel of(Generator generator, Path file) {
        String name = file.getFileName().toString();
        String id = name.endsWith(".gguf") ? name.substring(0, name.length() - 5) : name;
        return new TextModel() {
            @Override public String id() { return id; }
            @Override public int contextLength() { return generator.contextLength(); }
            @Override public boolean hasChatTemplate() { return generator.hasChatTemplate(); }

            @Override public int promptTokens(GenerationRequest r) {
                return r.chat() ? generator.chatPromptTokens(r.messages()) : generator.promptTokens(r.prompt());
            }

            @Override public Completion generate(GenerationRequest r, GenerationParams params, Consumer<String> onText) {
                return r.chat() ? generator.chat(r.messages(), params, onText) : generator.generate(r.prompt(), params, onText);
            }

            @Override public void close() { generator.close(); }
        };
    }
}
