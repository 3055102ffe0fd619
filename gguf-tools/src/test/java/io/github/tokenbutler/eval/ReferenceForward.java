package io.github.tokenbutler.eval;

import io.github.tokenbutler.runtime.Llama3.GGUF;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An independent, deliberately plain llama forward pass for F32 GGUF files (llama2.c run.c arithmetic:
 * RMSNorm, interleaved-pair RoPE, grouped-query attention, SwiGLU), used to check the numbers the
 * harness reports against something that does not share code with the runtime. Slow; test models only.
 */
final class ReferenceForward implements SequenceModel {
    private final int dim, hidden, layers, heads, kvHeads, headSize, kvDim, vocab;
    private final float eps, theta;
    private final float[] embedding, output, outputNorm;
    private final float[][] attnNorm, wq, wk, wv, wo, ffnNorm, gate, down, up;

    ReferenceForward(GGUF g) {
        dim = (int) g.getLong("llama.embedding_length", 0);
        hidden = (int) g.getLong("llama.feed_forward_length", 0);
        layers = (int) g.getLong("llama.block_count", 0);
        heads = (int) g.getLong("llama.attention.head_count", 0);
        kvHeads = (int) g.getLong("llama.attention.head_count_kv", heads);
        headSize = dim / heads;
        kvDim = kvHeads * headSize;
        eps = g.getFloat("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        theta = g.getFloat("llama.rope.freq_base", 10000f);
        embedding = f32(g, "token_embd.weight");
        output = g.tensors().containsKey("output.weight") ? f32(g, "output.weight") : embedding;
        outputNorm = f32(g, "output_norm.weight");
        vocab = embedding.length / dim;
        attnNorm = new float[layers][]; wq = new float[layers][]; wk = new float[layers][]; wv = new float[layers][];
        wo = new float[layers][]; ffnNorm = new float[layers][]; gate = new float[layers][]; down = new float[layers][]; up = new float[layers][];
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            attnNorm[l] = f32(g, p + "attn_norm.weight"); wq[l] = f32(g, p + "attn_q.weight"); wk[l] = f32(g, p + "attn_k.weight");
            wv[l] = f32(g, p + "attn_v.weight"); wo[l] = f32(g, p + "attn_output.weight"); ffnNorm[l] = f32(g, p + "ffn_norm.weight");
            gate[l] = f32(g, p + "ffn_gate.weight"); down[l] = f32(g, p + "ffn_down.weight"); up[l] = f32(g, p + "ffn_up.weight");
        }
    }

    int vocab() { return vocab; }

    private static float[] f32(GGUF g, String name) {
        if (g.tensors().get(name).type() != io.github.tokenbutler.runtime.Llama3.GGMLType.F32) {
            throw new IllegalArgumentException("the reference forward reads F32 tensors only; " + name + " is " + g.tensors().get(name).type());
        }
        return g.tensorData(name).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    /** out[o] = Σ_i w[o][i]·x[i]; GGUF stores a [in → out] weight as out rows of in floats. */
    private static void matmul(float[] out, float[] x, float[] w, int in, int outDim) {
        for (int o = 0; o < outDim; o++) {
            float s = 0;
            for (int i = 0; i < in; i++) s += w[o * in + i] * x[i];
            out[o] = s;
        }
    }

    private void rmsNorm(float[] out, float[] x, float[] w) {
        double ss = 0;
        for (float v : x) ss += v * v;
        float inv = (float) (1 / Math.sqrt(ss / x.length + eps));
        for (int i = 0; i < x.length; i++) out[i] = x[i] * inv * w[i];
    }

    private float[][] keys, values;

    /** Positions [from, from+count); the KV cache persists between the calls of one sequence. */
    @Override
    public float[] logits(int[] tokens, int from, int count) {
        if (from == 0) {
            keys = new float[layers][tokens.length * kvDim];
            values = new float[layers][tokens.length * kvDim];
        }
        int n = from + count;
        float[] logits = new float[count * vocab];
        float[] x = new float[dim], xb = new float[dim], q = new float[dim], k = new float[kvDim], v = new float[kvDim];
        float[] att = new float[n], attOut = new float[dim], h1 = new float[hidden], h3 = new float[hidden], tmp = new float[dim], row = new float[vocab];
        for (int pos = from; pos < n; pos++) {
            System.arraycopy(embedding, tokens[pos] * dim, x, 0, dim);
            for (int l = 0; l < layers; l++) {
                rmsNorm(xb, x, attnNorm[l]);
                matmul(q, xb, wq[l], dim, dim);
                matmul(k, xb, wk[l], dim, kvDim);
                matmul(v, xb, wv[l], dim, kvDim);
                for (int i = 0; i < dim; i += 2) {
                    double angle = pos / Math.pow(theta, (i % headSize) / (double) headSize);
                    float c = (float) Math.cos(angle), s = (float) Math.sin(angle);
                    rotate(q, i, c, s);
                    if (i < kvDim) rotate(k, i, c, s);
                }
                System.arraycopy(k, 0, keys[l], pos * kvDim, kvDim);
                System.arraycopy(v, 0, values[l], pos * kvDim, kvDim);
                for (int h = 0; h < heads; h++) {
                    int kvOff = (h / (heads / kvHeads)) * headSize;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int t = 0; t <= pos; t++) {
                        float s = 0;
                        for (int i = 0; i < headSize; i++) s += q[h * headSize + i] * keys[l][t * kvDim + kvOff + i];
                        att[t] = s / (float) Math.sqrt(headSize);
                        max = Math.max(max, att[t]);
                    }
                    float sum = 0;
                    for (int t = 0; t <= pos; t++) { att[t] = (float) Math.exp(att[t] - max); sum += att[t]; }
                    Arrays.fill(attOut, h * headSize, (h + 1) * headSize, 0f);
                    for (int t = 0; t <= pos; t++) {
                        float w = att[t] / sum;
                        for (int i = 0; i < headSize; i++) attOut[h * headSize + i] += w * values[l][t * kvDim + kvOff + i];
                    }
                }
                matmul(tmp, attOut, wo[l], dim, dim);
                for (int i = 0; i < dim; i++) x[i] += tmp[i];
                rmsNorm(xb, x, ffnNorm[l]);
                matmul(h1, xb, gate[l], dim, hidden);
                matmul(h3, xb, up[l], dim, hidden);
                for (int i = 0; i < hidden; i++) h1[i] = h1[i] / (1f + (float) Math.exp(-h1[i])) * h3[i];
                matmul(tmp, h1, down[l], hidden, dim);
                for (int i = 0; i < dim; i++) x[i] += tmp[i];
            }
            rmsNorm(xb, x, outputNorm);
            matmul(row, xb, output, dim, vocab);
            System.arraycopy(row, 0, logits, (pos - from) * vocab, vocab);
        }
        return logits;
    }

    private static void rotate(float[] vec, int i, float c, float s) {
        float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * c - v1 * s;
        vec[i + 1] = v0 * s + v1 * c;
    }
}
