package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Java API on stories260K. Expected text: llama2.c's run.c greedy output from BOS
 * (shared/models/stories260K/REFERENCE.md), which "Once upon a time" begins.
 */
class GeneratorTest {
    static Generator g;
    static String reference;

    @BeforeAll
    static void open() throws Exception {
        g = Generator.open(SharedData.require("models/stories260K/stories260K.gguf"), "dense", Map.of(), new LoadOptions(512));
        String md = Files.readString(SharedData.require("models/stories260K/REFERENCE.md"));
        reference = md.substring(md.indexOf("```\n") + 4, md.lastIndexOf("```"));
    }

    @AfterAll
    static void close() { if (g != null) g.close(); }

    @Test
    void greedyGenerationContinuesThePromptAsTheReferenceDoes() {
        StringBuilder streamed = new StringBuilder();
        Completion c = g.generate("Once upon a time", GenerationParams.greedy(40), streamed::append);
        assertEquals(c.text(), streamed.toString(), "the callback sees exactly the text");
        assertTrue(reference.startsWith("Once upon a time" + c.text()), c.text());
        assertEquals(40, c.generatedTokens());
        assertEquals("length", c.finish());
        assertTrue(c.decodeTokensPerSecond() > 0);
    }

    @Test
    void aStopStringEndsTheTextAndIsNeitherReturnedNorStreamed() {
        StringBuilder streamed = new StringBuilder();
        Completion c = g.generate("Once upon a time", GenerationParams.greedy(200).withStop("Lily."), streamed::append);
        assertEquals(", there was a little girl named ", c.text());
        assertEquals(c.text(), streamed.toString());
        assertEquals("stop", c.finish());
    }

    @Test
    void cancellationEndsAfterTheCurrentToken() {
        AtomicInteger calls = new AtomicInteger();
        Completion c = g.generate("Once upon a time", GenerationParams.greedy(200).withCancel(() -> calls.incrementAndGet() >= 3), s -> {});
        assertEquals("cancelled", c.finish());
        assertEquals(3, c.generatedTokens());
    }

    @Test
    void chatWithoutATemplateContinuesTheMessagesText() {
        assertFalse(g.hasChatTemplate());
        Completion chat = g.chat(List.of(new ChatMessage("user", "Once upon a time")), GenerationParams.greedy(20), s -> {});
        Completion plain = g.generate("Once upon a time", GenerationParams.greedy(20), s -> {});
        assertEquals(plain.text(), chat.text());
        assertThrows(UserError.class, () -> new ChatMessage("robot", "hi"));
    }

    @Test
    void badParametersAreRefusedWhenGivenNamingTheValue() {
        GenerationParams p = GenerationParams.greedy(10);
        assertEquals("temperature must be a number >= 0, got -1.0", assertThrows(UserError.class, () -> p.withSampling(-1f, 1f, 0)).getMessage());
        assertEquals("topP must be in (0, 1], got 1.5", assertThrows(UserError.class, () -> p.withSampling(0.5f, 1.5f, 0)).getMessage());
        assertEquals("repeatPenalty must be a number > 0 (1 = off), got 0.0", assertThrows(UserError.class, () -> p.withRepeatPenalty(0f, 64)).getMessage());
        assertEquals("repeatLastN must be >= 0, got -1", assertThrows(UserError.class, () -> p.withRepeatPenalty(1.1f, -1)).getMessage());
        assertEquals("maxTokens must be at least 1, got 0", assertThrows(UserError.class, () -> p.withMaxTokens(0)).getMessage());
        assertThrows(UserError.class, () -> p.withStop(""));
        assertThrows(UserError.class, () -> p.withStop((String) null));
        assertEquals(List.of("a", "b"), p.withStop("a", "b").stop());
        assertEquals(new GenerationParams(20, 0.5f, 0.9f, 7, 1.1f, 32, List.of("x"), p.cancel()),
                p.withMaxTokens(20).withSampling(0.5f, 0.9f, 7).withRepeatPenalty(1.1f, 32).withStop("x"));
    }

    @Test
    void promptTokensCountWhatGenerationRuns() {
        Completion plain = g.generate("Once upon a time", GenerationParams.greedy(1), s -> {});
        assertEquals(plain.promptTokens(), g.promptTokens("Once upon a time"));
        List<ChatMessage> messages = List.of(new ChatMessage("system", "Once upon"), new ChatMessage("user", "a time"));
        Completion chat = g.chat(messages, GenerationParams.greedy(1), s -> {});
        assertEquals(chat.promptTokens(), g.chatPromptTokens(messages));
        assertEquals(512, g.contextLength());
    }

    @Test
    void utf8IsDecodedOnlyUpToTheLastCompleteCharacter() {
        byte[] e = "é€".getBytes(StandardCharsets.UTF_8); // 2 + 3 bytes
        assertEquals("é", Llama3.Utf8.completePrefix(java.util.Arrays.copyOf(e, 4)));
        assertEquals("é€", Llama3.Utf8.completePrefix(e));
        assertEquals("", Llama3.Utf8.completePrefix(java.util.Arrays.copyOf(e, 1)));
        // Fed in pieces, as tokens come: each call gives what is complete, the rest waits.
        Llama3.Utf8 d = new Llama3.Utf8();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < e.length; i++) out.append(d.append(new byte[] {e[i]}));
        assertEquals("é€", out.toString());
    }
}
