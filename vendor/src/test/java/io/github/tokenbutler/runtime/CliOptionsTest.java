package io.github.tokenbutler.runtime;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The runtime CLI's llama.cpp-style names and the repeat penalty (llama.cpp's llama_sampler_penalties rule). */
class CliOptionsTest {
    @Test
    void llamaCppShortNamesMeanTheLongOnes() {
        Llama3.CliOptions s = Llama3.CliOptions.parse(new String[] {"-m", "m.gguf", "-p", "hi", "-n", "7", "-c", "256", "-s", "5",
                "--temp", "0.5", "-sys", "be brief", "--repeat-penalty", "1.1", "--repeat-last-n", "32"});
        Llama3.CliOptions l = Llama3.CliOptions.parse(new String[] {"--model", "m.gguf", "--prompt", "hi", "--max-tokens", "7",
                "--context", "256", "--seed", "5", "--temperature", "0.5", "--system-prompt", "be brief"});
        assertEquals(l.model, s.model);
        assertEquals(l.prompt, s.prompt);
        assertEquals(l.maxTokens, s.maxTokens);
        assertEquals(l.context, s.context);
        assertEquals(l.seed, s.seed);
        assertEquals(l.temperature, s.temperature);
        assertEquals(l.systemPrompt, s.systemPrompt);
        assertEquals(1.1f, s.repeatPenalty);
        assertEquals(32, s.repeatLastN);
        assertEquals(256, Llama3.CliOptions.parse(new String[] {"-m", "m", "--ctx-size", "256"}).context);
        assertEquals(9, Llama3.CliOptions.parse(new String[] {"-m", "m", "--n-predict", "9"}).maxTokens);
    }

    @Test
    void tokensStreamByDefault() {
        assertTrue(Llama3.CliOptions.parse(new String[] {"-m", "m"}).stream);
        assertFalse(Llama3.CliOptions.parse(new String[] {"-m", "m", "--no-stream"}).stream);
    }

    @Test
    void theRepeatPenaltyDividesPositiveAndMultipliesNegativeLogitsOfRecentTokensOnce() {
        Llama3.Sampler s = new Llama3.Sampler(0f, 1f, 1, 2f, 3);
        for (int t : new int[] {0, 1, 1, 4, 2}) s.accept(t); // the window keeps the last 3: 1, 4, 2
        float[] logits = {10f, 3f, -1f, 0.5f, 2f};
        // 1: 3 -> 1.5 (once, though seen twice); 2: -1 -> -2; 4: 2 -> 1; 0 (outside the window) keeps 10.
        assertEquals(0, s.sample(logits));
        assertArrayEquals(new float[] {10f, 1.5f, -2f, 0.5f, 1f}, logits);
        float[] plain = {10f, 3f, -1f, 0.5f, 2f};
        new Llama3.Sampler(0f, 1f, 1).sample(plain);
        assertArrayEquals(new float[] {10f, 3f, -1f, 0.5f, 2f}, plain, "penalty 1 (the default) changes nothing");
    }
}
