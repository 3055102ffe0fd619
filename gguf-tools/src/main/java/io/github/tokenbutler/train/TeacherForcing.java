package io.github.tokenbutler.train;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.State;

/**
 * Runs the base model densely over one sequence (one batched prefill from position 0, the true tokens as
 * history) and records what training needs: the layer-0 attention inputs and, for layers 1..L-1, the queries
 * and keys after RoPE (and, for a v2 predictor, the attention inputs of its producer layers), from which the true logits q·k/sqrt(headSize) are computed pair by pair in the loss.
 * Nothing is kept beyond the sequence: the corpus' logits are never stored.
 *
 * <p>The recording uses the runtime's attention hook: attentionInput copies layer 0's x, attend copies the queries and the
 * new keys and returns false, so the runtime's own dense kernel computes the attention as usual.
 */
public final class TeacherForcing {
    private final Model model;
    private final Recorder recorder;
    private final State state;

    public TeacherForcing(Model model) { this(model, 0, false); }

    /**
     * @param producerSpacing G: also records the attention inputs of layers G, 2G, ... (a v2 predictor's producers); 0 for none
     * @param keysBeforeRope  also records layers 1..L-1's keys before RoPE (a rotary v2 predictor's input)
     */
    public TeacherForcing(Model model, int producerSpacing, boolean keysBeforeRope) {
        this.model = model;
        this.recorder = new Recorder(model.config(), producerSpacing, keysBeforeRope);
        this.state = model.newState(recorder);
    }

    /** Runs tokens (BOS first) densely and returns the recorded sample; one sequence at a time. */
    public synchronized TeacherSample run(int[] tokens) {
        int n = tokens.length;
        if (n > model.config().contextLength()) {
            throw new IllegalArgumentException("sequence of " + n + " tokens, the model was loaded with a context of " + model.config().contextLength());
        }
        recorder.begin(n);
        model.forward(state, tokens, 0, n, 0, false);
        return recorder.finish();
    }

    private static final class Recorder implements AttentionHook.Attention {
        private final ModelConfig c;
        private final int spacing;
        private final boolean recordRaw;
        private int n;
        private float[] x;
        private float[][] queries, keys, inputs, rawKeys;

        Recorder(ModelConfig c, int spacing, boolean recordRaw) {
            this.c = c;
            this.spacing = spacing;
            this.recordRaw = recordRaw;
        }

        void begin(int n) {
            this.n = n;
            x = new float[n * c.dim()];
            inputs = spacing > 0 ? new float[c.nLayers()][] : null;
            if (inputs != null) {
                inputs[0] = x;
                for (int l = spacing; l < c.nLayers(); l += spacing) inputs[l] = new float[n * c.dim()];
            }
            queries = new float[c.nLayers()][];
            keys = new float[c.nLayers()][];
            rawKeys = recordRaw ? new float[c.nLayers()][] : null;
            if (recordRaw) for (int l = 1; l < c.nLayers(); l++) rawKeys[l] = new float[n * c.nKvHeads() * c.headSize()];
            for (int l = 1; l < c.nLayers(); l++) {
                queries[l] = new float[n * c.nHeads() * c.headSize()];
                keys[l] = new float[n * c.nKvHeads() * c.headSize()];
            }
        }

        TeacherSample finish() {
            TeacherSample s = new TeacherSample(n, x, queries, keys, inputs, rawKeys);
            x = null;
            queries = keys = inputs = rawKeys = null;
            return s;
        }

        @Override public void resetSequence() {}

        @Override public void attentionInput(int layer, int startPos, int nTokens, float[] in) {
            float[] into = layer == 0 ? x : inputs != null ? inputs[layer] : null;
            if (into != null) System.arraycopy(in, 0, into, startPos * c.dim(), nTokens * c.dim());
        }

        @Override public void keysBeforeRope(int layer, int startPos, int nTokens, float[] k) {
            if (rawKeys == null || layer == 0) return;
            int kvDim = c.nKvHeads() * c.headSize();
            System.arraycopy(k, 0, rawKeys[layer], startPos * kvDim, nTokens * kvDim);
        }

        @Override public boolean attend(int layer, int startPos, int nTokens, float[] q, KvRows keyCache, KvRows valueCache, float[] out) {
            if (layer == 0) return false;
            int qDim = c.nHeads() * c.headSize(), kvDim = c.nKvHeads() * c.headSize();
            System.arraycopy(q, 0, queries[layer], startPos * qDim, nTokens * qDim);
            for (int t = startPos; t < startPos + nTokens; t++) keyCache.read(t, 0, kvDim, keys[layer], t * kvDim);
            return false;
        }
    }
}
