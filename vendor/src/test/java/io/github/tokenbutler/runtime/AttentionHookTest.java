package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.State;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The attention extension point, on test-models/tiny-f32.gguf (GQA: 4 heads, 2 KV heads, 2 layers): a hook that
 * computes dense attention itself gives the runtime's logits bit for bit, and a recording hook sees every token's
 * layer-0 attention input once, in position order, with the shapes vendor/README.md promises, in a batched
 * prefill and in decode alike.
 */
class AttentionHookTest {
    static final int[] PROMPT = {1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 40, 50, 60, 70, 80, 90};
    static final int DECODE = 6;
    static Model model;

    @BeforeAll
    static void load() { model = Model.load(SharedData.testModel("tiny-f32.gguf"), new LoadOptions(64)); }

    @AfterAll
    static void close() { if (model != null) model.close(); }

    /** Dense attention through the hook, with its own scratch: what a plugin that changes nothing would do. */
    static final class DelegatingAttention implements AttentionHook.Attention {
        final ModelConfig c;
        int calls;
        DelegatingAttention(ModelConfig c) { this.c = c; }
        @Override public void resetSequence() {}
        @Override public boolean attend(int layer, int startPos, int nTokens, float[] q, Llama3.KvRows keyCache, Llama3.KvRows valueCache, float[] out) {
            calls++;
            DenseAttention.attend(c, startPos, nTokens, q, keyCache, valueCache, out, new float[c.kvGroup() * (startPos + nTokens)]);
            return true;
        }
    }

    /** Records what the runtime hands over and lets it compute attention itself. */
    static final class RecordingAttention implements AttentionHook.Attention {
        final List<int[]> layer0Calls = new ArrayList<>(); // {startPos, nTokens}
        final List<float[]> layer0Rows = new ArrayList<>(); // one row of dim floats per token, in call order
        final List<int[]> attendCalls = new ArrayList<>(); // {layer, startPos, nTokens, q.length, key capacity, out.length, key row width}
        final List<int[]> inputCalls = new ArrayList<>(); // {layer, startPos, nTokens} of every layer's attention input
        final List<int[]> rawKeyCalls = new ArrayList<>(); // {layer, startPos, nTokens, k.length} of every keysBeforeRope
        int resets;
        final int dim;
        RecordingAttention(int dim) { this.dim = dim; }
        @Override public void resetSequence() { resets++; }
        @Override public void attentionInput(int layer, int startPos, int nTokens, float[] x) {
            inputCalls.add(new int[] {layer, startPos, nTokens});
            if (layer != 0) return;
            layer0Calls.add(new int[] {startPos, nTokens});
            for (int t = 0; t < nTokens; t++) layer0Rows.add(Arrays.copyOfRange(x, t * dim, (t + 1) * dim));
        }
        @Override public void keysBeforeRope(int layer, int startPos, int nTokens, float[] k) {
            rawKeyCalls.add(new int[] {layer, startPos, nTokens, k.length});
        }
        @Override public boolean attend(int layer, int startPos, int nTokens, float[] q, Llama3.KvRows keyCache, Llama3.KvRows valueCache, float[] out) {
            attendCalls.add(new int[] {layer, startPos, nTokens, q.length, keyCache.capacity(), out.length, keyCache.width});
            return false;
        }
    }

    /** Logits of the prompt (prefill in one call) and of DECODE greedy steps after it. */
    static List<float[]> run(AttentionHook.Attention attention) {
        State s = model.newState(attention);
        List<float[]> logits = new ArrayList<>();
        float[] l = model.forward(s, PROMPT, 0, PROMPT.length, 0, false);
        logits.add(l);
        int pos = PROMPT.length;
        for (int i = 0; i < DECODE; i++, pos++) {
            int next = Llama3.Sampler.argmax(l);
            l = model.forward(s, new int[] {next}, 0, 1, pos, false);
            logits.add(l);
        }
        return logits;
    }

    @Test
    void aHookThatComputesDenseAttentionGivesIdenticalLogits() {
        List<float[]> plain = run(null);
        DelegatingAttention hook = new DelegatingAttention(model.config());
        List<float[]> viaHook = run(hook);
        for (int i = 0; i < plain.size(); i++) assertArrayEquals(plain.get(i), viaHook.get(i), "logits of step " + i);
        int layers = model.config().nLayers();
        // Prefill comes in batches of at most 32 tokens: this prompt is one batch.
        assertEquals(layers * (1 + DECODE), hook.calls, "one attend call per layer per forward batch");
    }

    @Test
    void aRecordingHookSeesEveryLayerZeroInputOnceInPositionOrder() {
        ModelConfig c = model.config();
        RecordingAttention batched = new RecordingAttention(c.dim());
        run(batched);
        assertEquals(1, batched.resets, "one new sequence");
        assertEquals(1 + DECODE, batched.layer0Calls.size());
        assertArrayEquals(new int[] {0, PROMPT.length}, batched.layer0Calls.get(0), "prefill: all prompt tokens in one call");
        for (int i = 1; i <= DECODE; i++) {
            assertArrayEquals(new int[] {PROMPT.length + i - 1, 1}, batched.layer0Calls.get(i), "decode step " + i);
        }
        assertEquals(PROMPT.length + DECODE, batched.layer0Rows.size());
        for (int[] a : batched.attendCalls) {
            int n = a[2];
            assertTrue(a[0] >= 0 && a[0] < c.nLayers(), "layer index " + a[0]);
            assertTrue(a[3] >= n * c.qDim(), "q holds [n][nHeads*headSize]");
            assertTrue(a[5] >= n * c.qDim(), "out holds [n][nHeads*headSize]");
            assertTrue(a[4] >= a[1] + a[2], "the key cache holds the current tokens");
            assertEquals(c.kvDim(), a[6], "key rows are kvDim wide");
        }
        assertEquals(c.nLayers() * (1 + DECODE), batched.attendCalls.size());
        // every layer's attention input comes just before that layer's attention, with the same positions
        assertEquals(batched.attendCalls.size(), batched.inputCalls.size());
        for (int i = 0; i < batched.inputCalls.size(); i++) {
            int[] in = batched.inputCalls.get(i), at = batched.attendCalls.get(i);
            assertArrayEquals(new int[] {at[0], at[1], at[2]}, in, "attention input " + i);
            int[] raw = batched.rawKeyCalls.get(i);
            assertArrayEquals(new int[] {at[0], at[1], at[2]}, new int[] {raw[0], raw[1], raw[2]}, "keys before RoPE " + i);
            assertTrue(raw[3] >= at[2] * at[6], "keys before RoPE " + i + ": a row per token");
        }

        // The same tokens fed one at a time: the layer-0 input of a token depends on the token alone, so each
        // row must equal the one the batched prefill handed over.
        RecordingAttention stepwise = new RecordingAttention(c.dim());
        State s = model.newState(stepwise);
        for (int p = 0; p < PROMPT.length; p++) model.forward(s, PROMPT, p, 1, p, false);
        assertEquals(PROMPT.length, stepwise.layer0Calls.size());
        for (int p = 0; p < PROMPT.length; p++) {
            assertArrayEquals(new int[] {p, 1}, stepwise.layer0Calls.get(p));
            assertArrayEquals(batched.layer0Rows.get(p), stepwise.layer0Rows.get(p), "layer-0 input of position " + p);
        }
    }
}
