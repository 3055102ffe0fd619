package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;

import java.nio.file.Path;

/**
 * A revised (v2) TokenButler predictor loaded from its GGUF file and checked against the model it is used with,
 * as {@link TokenButlerPredictor} is for v1. Immutable and shared: every sequence gets its own
 * {@link RevisedImportanceState}.
 */
public final class RevisedPredictor implements Predictor {
    private final RevisedPredictorConfig config;
    private final RevisedPredictorWeights weights;
    private final ModelFingerprint trainedFor;
    /**
     * Per producer, the down projection averaged over each KV group's query heads, [G*H_kv*d'][I], and its bias:
     * with one selection per KV group (gqa=kv) only the group's mean query is scored, and the mean of the heads'
     * outputs is the output of the mean rows (RoPE, the same rotation for every head, commutes with the mean), so
     * a state for gqa=kv computes a quarter of the down projection's rows on a Llama 3 shape.
     */
    private final float[][] groupMeanDown, groupMeanDownBias;
    /**
     * Per producer, the up and down projections as half-precision bits when the file stores them in F16 (else
     * null): the same values in half the bytes, and the producers' decode step is bound by reading them. (The
     * group-averaged down projection stays in floats: its means are not halves.)
     */
    private final short[][] upHalf, downHalf;

    private RevisedPredictor(RevisedPredictorConfig config, RevisedPredictorWeights weights, ModelFingerprint trainedFor, boolean inF16) {
        this.config = config;
        this.weights = weights;
        this.trainedFor = trainedFor;
        this.upHalf = inF16 ? halves(weights.up) : null;
        this.downHalf = inF16 ? halves(weights.down) : null;
        this.groupMeanDown = new float[config.producers()][];
        this.groupMeanDownBias = new float[config.producers()][];
        for (int p = 0; p < config.producers(); p++) {
            groupMeanDown[p] = groupMeans(config, weights.down[p], config.importanceHidden());
            groupMeanDownBias[p] = groupMeans(config, weights.downBias[p], 1);
        }
    }

    /**
     * Rows [G][H][d'] of `width` values each (a down projection, width I, or its bias, width 1) averaged over each
     * KV group's query heads: rows [G][H_kv][d'].
     */
    private static float[] groupMeans(RevisedPredictorConfig c, float[] rows, int width) {
        int heads = c.modelHeads(), kvHeads = c.modelKvHeads(), group = c.modelKvGroup(), dp = c.dPrime();
        float[] means = new float[c.producerSpacing() * kvHeads * dp * width];
        for (int to = 0; to < means.length / width; to++) {
            int j = to % dp, kv = (to / dp) % kvHeads, g = to / (dp * kvHeads);
            for (int h = 0; h < group; h++) {
                int from = (g * heads + kv * group + h) * dp + j;
                for (int i = 0; i < width; i++) means[to * width + i] += rows[from * width + i];
            }
            for (int i = 0; i < width; i++) means[to * width + i] /= group;
        }
        return means;
    }

    /** The matrices' values (halves widened to floats) as half-precision bits again: exact. */
    private static short[][] halves(float[][] matrices) {
        short[][] h = new short[matrices.length][];
        for (int m = 0; m < matrices.length; m++) {
            h[m] = new short[matrices[m].length];
            for (int i = 0; i < h[m].length; i++) h[m][i] = Float.floatToFloat16(matrices[m][i]);
        }
        return h;
    }

    /** Loads a v2 predictor; a corrupt file or one trained for another model is a Llama3.UserError naming both. */
    public static RevisedPredictor load(Path path, Llama3.ModelInfo model) {
        Llama3.requireReadableFile(path, "predictor file");
        try (GGUF gguf = GGUF.read(path)) {
            return read(gguf, path, model);
        }
    }

    /** {@link #load} from the opened file. */
    static RevisedPredictor read(GGUF gguf, Path path, Llama3.ModelInfo model) {
        PredictorFormat.RevisedHeader header = PredictorFormat.readRevisedHeader(gguf);
        header.fingerprint().requireSameModel(ModelFingerprint.of(model.config(), model.gguf()), "predictor " + path, PredictorFormat.imported(gguf));
        RevisedPredictorConfig c = header.config();
        RevisedPredictorWeights weights = RevisedPredictorWeights.read(gguf, c);
        boolean inF16 = true;
        for (int p = 0; p < c.producers(); p++) {
            inF16 &= gguf.tensors().get(PredictorFormat.producerUp(p)).type() == Llama3.GGMLType.F16
                    && gguf.tensors().get(PredictorFormat.producerDown(p)).type() == Llama3.GGMLType.F16;
        }
        return new RevisedPredictor(c, weights, header.fingerprint(), inF16);
    }

    /** A predictor from weights in memory (tests, and tools that make predictors). */
    public static RevisedPredictor of(RevisedPredictorConfig config, RevisedPredictorWeights weights, ModelFingerprint trainedFor) {
        config.validate("v2 predictor for " + trainedFor.modelName());
        return new RevisedPredictor(config, weights, trainedFor, false);
    }

    public RevisedPredictorConfig config() { return config; }

    public RevisedPredictorWeights weights() { return weights; }

    /** Whether the producers' projections are used in half precision (the file stores them in F16). */
    public boolean inF16() { return upHalf != null; }

    @Override public ModelFingerprint trainedFor() { return trainedFor; }

    /** Per-sequence state for contextLength tokens, keys in {@link TokenButlerPredictor#DEFAULT_KEY_PRECISION} unless given. */
    public RevisedImportanceState newState(int contextLength, KeyPrecision precision) {
        return newState(contextLength, precision, false);
    }

    /**
     * As {@link #newState(int, KeyPrecision)}; with groupQueriesOnly (one selection per KV group, gqa=kv) the state
     * computes only the mean queries of the KV groups, from the group-averaged down projection, and has no
     * per-head queries.
     */
    public RevisedImportanceState newState(int contextLength, KeyPrecision precision, boolean groupQueriesOnly) {
        if (contextLength <= 0) throw new IllegalArgumentException("context length must be positive, got " + contextLength);
        return new RevisedImportanceState(config, weights, contextLength,
                precision == null ? TokenButlerPredictor.DEFAULT_KEY_PRECISION : precision,
                groupQueriesOnly ? groupMeanDown : null, groupMeanDownBias, upHalf, downHalf);
    }
}
