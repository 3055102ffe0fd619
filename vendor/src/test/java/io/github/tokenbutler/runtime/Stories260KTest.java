package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.Sampler;
import io.github.tokenbutler.runtime.Llama3.State;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real stories260K model (shared/models/stories260K), greedy from BOS. Expected ids and text come
 * from shared/models/README.md and stories260K/REFERENCE.md: llama2.c's run.c output, verified there
 * token for token against an independent numpy forward pass.
 */
class Stories260KTest {
    static final int[] FIRST_IDS = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
    /** With the default f16 KV cache, and with an f32 one. */
    static Model model, modelF32;

    @BeforeAll
    static void load() {
        Path file = SharedData.require("models/stories260K/stories260K.gguf");
        model = Model.load(file, new LoadOptions(512));
        modelF32 = Model.load(file, new LoadOptions(512, KvType.F32, KvType.F32));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
        if (modelF32 != null) modelF32.close();
    }

    /** Greedy decoding, one token per forward call after the BOS prefill. */
    static int[] greedy(Model m, State state, int steps) {
        int[] out = new int[steps];
        float[] logits = m.forward(state, new int[] {1}, 0, 1, 0, false);
        for (int i = 0; i < steps; i++) {
            out[i] = Sampler.argmax(logits);
            if (i + 1 < steps) logits = m.forward(state, new int[] {out[i]}, 0, 1, i + 1, false);
        }
        return out;
    }

    @Test
    void greedyFromBosGivesReferenceIds() {
        int[] ids = greedy(model, model.newState(null), FIRST_IDS.length);
        assertArrayEquals(FIRST_IDS, ids);
    }

    /** The whole reference text, with the f16 KV cache (the default) and with an f32 one: f16 changes no token. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = KvType.class, names = {"F16", "F32"})
    void greedyFromBosGivesReferenceText(KvType kv) throws Exception {
        // run.c's loop with steps = 256 runs 256 forward passes (BOS at position 0, then each sampled token) and prints
        // every token it samples, so the block is 256 generated tokens; the first piece after BOS loses its leading space.
        Model model = kv == KvType.F32 ? modelF32 : Stories260KTest.model;
        assertEquals(kv, model.keyType());
        int[] ids = greedy(model, model.newState(null), 256);
        Llama3.Tokenizer tok = model.tokenizer();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        int previous = 1;
        for (int id : ids) {
            text.writeBytes(tok.tokenBytes(previous, id));
            previous = id;
        }
        String reference = Files.readString(SharedData.require("models/stories260K/REFERENCE.md"));
        String block = reference.substring(reference.indexOf("```\n") + 4, reference.lastIndexOf("```"));
        assertEquals(block.stripTrailing(), text.toString(StandardCharsets.UTF_8));
    }

    /**
     * On an f32 KV cache: the batched matmuls' other summation order is all that differs. (With f16 a K or V
     * value that lands on a rounding boundary can move by one f16 step, 2^-11 of itself, in one path only.)
     */
    @Test
    void batchedPrefillMatchesTokenByTokenDecode() {
        Model model = modelF32;
        int[] prompt = new int[40]; // longer than one batch (32) so the split is exercised too
        prompt[0] = 1;
        System.arraycopy(greedy(model, model.newState(null), 39), 0, prompt, 1, 39);
        float[] batched = model.forward(model.newState(null), prompt, 0, prompt.length, 0, true);
        State state = model.newState(null);
        int vocab = model.config().vocabSize();
        for (int i = 0; i < prompt.length; i++) {
            float[] one = model.forward(state, prompt, i, 1, i, false);
            float[] row = Arrays.copyOfRange(batched, i * vocab, (i + 1) * vocab);
            // Batched matmuls sum in another order than single-token dot products: float rounding only.
            for (int v = 0; v < vocab; v++) assertEquals(one[v], row[v], 1e-3f * (1 + Math.abs(one[v])), "token " + i + " logit " + v);
        }
    }

    @Test
    void contextComesFromMetadataUnlessOverridden() {
        Path file = SharedData.require("models/stories260K/stories260K.gguf");
        try (Model m = Model.load(file, LoadOptions.defaults())) {
            assertEquals(128, m.config().contextLength());
            UserError e = assertThrows(UserError.class, () -> m.forward(m.newState(null), new int[] {1, 2}, 0, 2, 127, false));
            assertTrue(e.getMessage().contains("127..128") && e.getMessage().contains("128 tokens"), e.getMessage());
        }
        assertEquals(512, model.config().contextLength());
    }

    /**
     * A KV cache that starts with room for one token and grows several times over 300 positions (a 40-token
     * batched prefill, then token by token) gives the same logits, bit for bit, as one allocated for the whole
     * context up front.
     */
    @Test
    void growingKvCacheEqualsOneAllocatedUpFront() {
        State growing = model.newState(null, 1), upFront = model.newState(null, 512);
        assertEquals(64, growing.capacity());
        assertEquals(512, upFront.capacity());
        int[] tokens = new int[300];
        tokens[0] = 1;
        System.arraycopy(greedy(model, model.newState(null), 299), 0, tokens, 1, 299);
        assertArrayEquals(model.forward(upFront, tokens, 0, 40, 0, false), model.forward(growing, tokens, 0, 40, 0, false));
        java.util.Set<Integer> capacities = new java.util.TreeSet<>();
        for (int pos = 40; pos < tokens.length; pos++) {
            float[] expected = model.forward(upFront, tokens, pos, 1, pos, false);
            float[] got = model.forward(growing, tokens, pos, 1, pos, false);
            capacities.add(growing.capacity());
            for (int v = 0; v < expected.length; v++) {
                assertEquals(Float.floatToIntBits(expected[v]), Float.floatToIntBits(got[v]), "position " + pos + " logit " + v);
            }
        }
        assertEquals(java.util.List.of(64, 128, 192, 320), java.util.List.copyOf(capacities), "capacities seen");
    }

    /** Growth that the heap cannot hold: one message naming the tokens, the bytes, the context and the flags to change; the state stays usable. */
    @Test
    void kvCacheGrowthBeyondTheHeapIsOneClearError() {
        Path file = SharedData.require("models/stories260K/stories260K.gguf");
        try (Model m = Model.load(file, new LoadOptions(50_000_000))) {
            State s = m.newState(null);
            assertEquals(1024, s.capacity(), "a large context costs nothing up front");
            UserError e = assertThrows(UserError.class, () -> s.ensureCapacity(50_000_000));
            String msg = e.getMessage();
            assertTrue(msg.contains("cannot grow to 50000000 tokens") && msg.contains("MiB") && msg.contains("--context (now 50000000)")
                    && msg.contains("-Xmx"), msg);
            assertEquals(1024, s.capacity());
            assertEquals(m.config().vocabSize(), m.forward(s, new int[] {1, 2, 3}, 0, 3, 0, false).length);
        }
    }
}
