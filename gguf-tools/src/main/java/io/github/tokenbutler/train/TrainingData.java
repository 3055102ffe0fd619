package io.github.tokenbutler.train;

import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.corpus.TokenChunks;
import io.github.tokenbutler.runtime.Llama3.Tokenizer;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * The token sequences of a text file and the order training visits them in. The text is read, tokenized and
 * cut exactly as the eval command does (stories joined with BOS, windows of seqLen-1 tokens each prefixed by
 * BOS; docs/EVALUATION.md), so training sees the same kind of sequence evaluation scores. Sequence number s
 * of the run (step * batch + b) is sequence order(s / count)[s % count]: each epoch is a permutation drawn
 * from (seed, epoch), so the data position is a function of the step alone and a resumed run sees exactly
 * the same batches.
 */
public final class TrainingData {
    private final int[][] sequences;
    private final long seed;
    private int cachedEpoch = -1;
    private int[] cachedOrder;

    private TrainingData(int[][] sequences, long seed) {
        this.sequences = sequences;
        this.seed = seed;
    }

    /**
     * @param option the option that named the file, for messages (e.g. "--text")
     * @param maxSequences keep at most this many (0: all)
     */
    public static TrainingData read(Path file, String option, Tokenizer tokenizer, int seqLen, int maxSequences, long seed) {
        List<String> stories = Stories.read(file, option);
        if (stories.isEmpty()) throw new UserError("train: " + option + " " + file + " holds no text");
        int[] stream = TokenChunks.stream(stories, tokenizer);
        TokenChunks chunks = TokenChunks.of(stream, tokenizer.bosId(), seqLen, maxSequences, "train: " + option + " " + file);
        int[][] seqs = new int[chunks.count()][];
        for (int i = 0; i < seqs.length; i++) seqs[i] = chunks.chunk(i);
        return new TrainingData(seqs, seed);
    }

    /** For tests: given sequences. */
    static TrainingData of(int[][] sequences, long seed) { return new TrainingData(sequences, seed); }

    public int count() { return sequences.length; }

    public int[] sequence(int i) { return sequences[i]; }

    /** The sequence visited at position s of the run (s = step * batch + index in the batch). */
    public synchronized int[] atRunPosition(long s) {
        int epoch = (int) (s / sequences.length);
        if (epoch != cachedEpoch) {
            cachedOrder = permutation(sequences.length, seed * 1_000_003L + epoch);
            cachedEpoch = epoch;
        }
        return sequences[cachedOrder[(int) (s % sequences.length)]];
    }

    /** Fisher-Yates with java.util.Random, whose sequence its specification fixes. */
    static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Random r = new Random(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i]; p[i] = p[j]; p[j] = t;
        }
        return p;
    }
}
