package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A model whose timing a test sets: each token takes tokenMillis, and while the gate is closed a generation waits
 * before its first token (still asking cancel, as the real one does per token). Counts what happened to it.
 */
final class ScriptedModel implements TextModel {
    final int tokenMillis;
    final AtomicInteger started = new AtomicInteger(), cancelled = new AtomicInteger(), finished = new AtomicInteger();
    /** Tokens the last cancelled generation had made. */
    volatile int tokensBeforeCancel = -1;
    private volatile CountDownLatch gate = new CountDownLatch(0);

    ScriptedModel(int tokenMillis) { this.tokenMillis = tokenMillis; }

    void closeGate() { gate = new CountDownLatch(1); }

    void openGate() { gate.countDown(); }

    @Override public String id() { return "scripted"; }
    @Override public int contextLength() { return 64; }
    @Override public boolean hasChatTemplate() { return true; }

    /** One token per character: easy to make a prompt that does not fit. */
    @Override public int promptTokens(GenerationRequest r) {
        return r.chat() ? r.messages().stream().mapToInt(m -> m.content().length()).sum() : r.prompt().length();
    }

    @Override public Completion generate(GenerationRequest r, GenerationParams params, Consumer<String> onText) {
        started.incrementAndGet();
        int prompt = promptTokens(r);
        try {
            while (!gate.await(5, TimeUnit.MILLISECONDS)) {
                if (params.cancel().getAsBoolean()) return cancelled(prompt, 0, "");
            }
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < params.maxTokens(); i++) {
                Thread.sleep(tokenMillis);
                String piece = "w" + i + " ";
                text.append(piece);
                onText.accept(piece);
                if (params.cancel().getAsBoolean()) return cancelled(prompt, i + 1, text.toString());
            }
            finished.incrementAndGet();
            return new Completion(text.toString(), prompt, params.maxTokens(), "length", 0, 1000.0 / Math.max(1, tokenMillis));
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private Completion cancelled(int prompt, int tokens, String text) {
        tokensBeforeCancel = tokens;
        cancelled.incrementAndGet();
        return new Completion(text, prompt, tokens, "cancelled", 0, 0);
    }

    @Override public void close() { openGate(); }
}
