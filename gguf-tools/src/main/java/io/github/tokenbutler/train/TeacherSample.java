package io.github.tokenbutler.train;

/**
 * What the base model yields for one sequence under dense attention with teacher forcing: the predictor's
 * input and what it must predict.
 *
 * @param n       tokens in the sequence (BOS first)
 * @param x       [n][dim] layer-0 attention inputs (hidden state after the layer-0 attention RMSNorm)
 * @param queries per layer, [n][heads * headSize] queries after RoPE; null for layer 0 (always dense, never predicted)
 * @param keys    per layer, [n][kvHeads * headSize] keys after RoPE; null for layer 0
 * @param inputs  per layer, [n][dim] attention inputs of the layers a v2 predictor's producers read (every G-th,
 *                layer 0's is x), null for the others; null altogether when only layer 0's were recorded
 * @param keysBeforeRope per layer, [n][kvHeads * headSize] keys before RoPE (a rotary v2 predictor's input); null
 *                for layer 0, or altogether when not recorded
 */
public record TeacherSample(int n, float[] x, float[][] queries, float[][] keys, float[][] inputs, float[][] keysBeforeRope) {
    /** A sample with layer 0's input only (what the v1 predictor reads). */
    public TeacherSample(int n, float[] x, float[][] queries, float[][] keys) { this(n, x, queries, keys, null, null); }
}
