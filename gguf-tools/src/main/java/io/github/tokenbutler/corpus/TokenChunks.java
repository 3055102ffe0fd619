package io.github.tokenbutler.corpus;

import io.github.tokenbutler.runtime.Llama3.Tokenizer;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The perplexity protocol's chunking (docs/EVALUATION.md, "Chunking").
 *
 * <p>Token stream: the stories in file order, each encoded on its own (plain text, no special-token parsing)
 * and separated from the previous story by one BOS token: {@code s1 BOS s2 BOS s3 ...}. That is how llama2.c
 * prepares TinyStories for training (every story starts with BOS), so the model has seen exactly this
 * boundary; a story boundary inside a chunk is therefore an ordinary, scored prediction of BOS.
 *
 * <p>Chunks: consecutive, non-overlapping windows of {@code ctx - 1} stream tokens, each prefixed by BOS,
 * so every chunk is exactly {@code ctx} tokens and starts a fresh sequence at position 0. A tail shorter
 * than {@code ctx - 1} tokens is not scored, so every chunk has the same length and the same positions.
 */
public final class TokenChunks {
    private final int[][] chunks;
    private final int streamTokens;
    private final int droppedTailTokens;

    private TokenChunks(int[][] chunks, int streamTokens, int droppedTailTokens) {
        this.chunks = chunks;
        this.streamTokens = streamTokens;
        this.droppedTailTokens = droppedTailTokens;
    }

    /** The stream of the stories: each encoded separately, BOS between consecutive stories. */
    public static int[] stream(List<String> stories, Tokenizer tokenizer) {
        int bos = tokenizer.bosId();
        List<int[]> parts = new ArrayList<>();
        int total = 0;
        for (int i = 0; i < stories.size(); i++) {
            int[] t = tokenizer.encode(stories.get(i));
            parts.add(t);
            total += t.length + (i > 0 ? 1 : 0);
        }
        int[] out = new int[total];
        int at = 0;
        for (int i = 0; i < parts.size(); i++) {
            if (i > 0) out[at++] = bos;
            System.arraycopy(parts.get(i), 0, out, at, parts.get(i).length);
            at += parts.get(i).length;
        }
        return out;
    }

    /**
     * Cuts a stream into BOS-prefixed chunks of ctx tokens.
     * @param maxChunks keep only the first maxChunks chunks (0: all)
     * @param what      names the text for the "too short" error, e.g. "--text valid.txt"
     */
    public static TokenChunks of(int[] stream, int bos, int ctx, int maxChunks, String what) {
        if (ctx < 2) throw new UserError("--context must be at least 2 (BOS plus one predicted token), got " + ctx);
        int window = ctx - 1;
        int available = stream.length / window;
        if (available == 0) {
            throw new UserError(what + " is too short for --context " + ctx + ": it has " + stream.length
                    + " tokens, one chunk needs " + window + " (ctx - 1, after the BOS prefix)");
        }
        int n = maxChunks > 0 ? Math.min(maxChunks, available) : available;
        int[][] chunks = new int[n][];
        for (int c = 0; c < n; c++) {
            int[] chunk = new int[ctx];
            chunk[0] = bos;
            System.arraycopy(stream, c * window, chunk, 1, window);
            chunks[c] = chunk;
        }
        return new TokenChunks(chunks, stream.length, stream.length - available * window);
    }

    public int count() { return chunks.length; }

    /** Chunk i (ctx tokens, BOS first); a copy. */
    public int[] chunk(int i) { return chunks[i].clone(); }

    /** The chunk without copying, for the evaluation loop (callers must not modify it). */
    public int[] chunkShared(int i) { return chunks[i]; }

    public int length() { return chunks[0].length; }

    /** Predictions scored over all chunks: count × (ctx − 1). */
    public long scoredTokens() { return (long) chunks.length * (chunks[0].length - 1); }

    public int streamTokens() { return streamTokens; }

    /** Stream tokens after the last full window, never scored. */
    public int droppedTailTokens() { return droppedTailTokens; }

    @Override public String toString() {
        return count() + " chunks of " + length() + " tokens (stream " + streamTokens + " tokens, tail "
                + droppedTailTokens + " unscored)" + (count() > 0 ? " first=" + Arrays.toString(Arrays.copyOf(chunks[0], Math.min(8, length()))) : "");
    }
}
