package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What identifies the base model a predictor was trained for, in two parts:
 * <ol>
 *   <li>{@code vocabularyHash}: SHA-256 (hex) of the shape (dim, layers, heads, KV heads, head size, vocab) and of
 *       every token string of tokenizer.ggml.tokens. Exact, and untouched by quantization, but the same for two
 *       models of one family (a base model and its fine-tune, or two random models of one shape).</li>
 *   <li>{@code embeddingSignature}: the weights. For {@value #ROWS} token-embedding rows spread over the
 *       vocabulary, the cosine of the (dequantized) row with each of {@value #DIRECTIONS} fixed pseudo-random ±1
 *       directions: {@value #ROWS}*{@value #DIRECTIONS} numbers of size about 1/sqrt(dim). Quantizing moves a
 *       row by a small fraction of its length (Q8_0 about 0.5%, 4-bit about 5-10%), and a cosine by that
 *       fraction of its size, so the signature moves by about that fraction of its length; a model with other
 *       weights gives unrelated cosines, a distance near sqrt 2. Two signatures match when
 *       |a - b| / max(|a|, |b|) is at most {@value #MAX_SIGNATURE_DISTANCE}.</li>
 * </ol>
 * Why not a hash of the weights: it changes with every quantization. Why not the hash alone: it cannot tell a
 * predictor trained for one model from another model of the same family. The signature needs only 16 rows, so
 * it is cheap even for a 128K-token vocabulary.
 */
public record ModelFingerprint(String modelName, int dim, int layers, int heads, int kvHeads, int headSize, int vocab,
                               String vocabularyHash, float[] embeddingSignature) {
    public static final int ROWS = 16, DIRECTIONS = 4;
    public static final double MAX_SIGNATURE_DISTANCE = 0.25;
    private static final long DIRECTION_SEED = 0x70B0_7B17_1E85L;

    /**
     * The fingerprint of a loaded model: shape from its config, vocabulary and embedding rows from its GGUF. Its
     * name (for messages only) is general.name, or the file name when general.name is missing or just repeats the
     * architecture (stories260K says "llama").
     */
    public static ModelFingerprint of(ModelConfig config, GGUF gguf) {
        String name = gguf.get("general.name") instanceof String s && !s.isBlank() && !s.equals(gguf.get("general.architecture"))
                ? s : fileName(gguf);
        return new ModelFingerprint(name, config.dim(), config.nLayers(), config.nHeads(), config.nKvHeads(), config.headSize(),
                config.vocabSize(), vocabularyHash(config, gguf), embeddingSignature(config, gguf));
    }

    private static String fileName(GGUF gguf) {
        String n = gguf.path().getFileName().toString();
        return n.endsWith(".gguf") ? n.substring(0, n.length() - 5) : n;
    }

    static String vocabularyHash(ModelConfig c, GGUF gguf) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
        ByteBuffer shape = ByteBuffer.allocate(6 * 4).order(ByteOrder.LITTLE_ENDIAN);
        shape.putInt(c.dim()).putInt(c.nLayers()).putInt(c.nHeads()).putInt(c.nKvHeads()).putInt(c.headSize()).putInt(c.vocabSize());
        sha.update(shape.array());
        if (gguf.get("tokenizer.ggml.tokens") instanceof String[] tokens) {
            ByteBuffer len = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            for (String t : tokens) {
                byte[] b = t.getBytes(StandardCharsets.UTF_8);
                sha.update(len.clear().putInt(b.length).array());   // lengths keep "ab","c" apart from "a","bc"
                sha.update(b);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    static float[] embeddingSignature(ModelConfig c, GGUF gguf) {
        TokenEmbeddingRows rows = new TokenEmbeddingRows(gguf, c.dim(), c.vocabSize());
        float[][] directions = directions(c.dim());
        int nRows = Math.min(ROWS, c.vocabSize());
        float[] sig = new float[ROWS * DIRECTIONS];
        float[] row = new float[c.dim()];
        for (int k = 0; k < nRows; k++) {
            rows.row(signatureRow(k, nRows, c.vocabSize()), row);
            double norm = 0;
            for (float v : row) norm += (double) v * v;
            norm = Math.sqrt(norm) * Math.sqrt(c.dim());
            for (int d = 0; d < DIRECTIONS; d++) {
                double dot = 0;
                for (int i = 0; i < c.dim(); i++) dot += (double) row[i] * directions[d][i];
                sig[k * DIRECTIONS + d] = norm > 0 ? (float) (dot / norm) : 0f;
            }
        }
        return sig;
    }

    /** Token id of signature row k: the middles of nRows equal slices of the vocabulary. */
    static int signatureRow(int k, int nRows, int vocab) { return (int) ((2L * k + 1) * vocab / (2L * nRows)); }

    private static float[][] directions(int dim) {
        BlockedVectorStore.SplitMix64 rng = new BlockedVectorStore.SplitMix64(DIRECTION_SEED);
        float[][] u = new float[DIRECTIONS][dim];
        for (float[] d : u) for (int i = 0; i < dim; i++) d[i] = (rng.nextLong() & 1) == 0 ? 1f : -1f;
        return u;
    }

    /** |a - b| / max(|a|, |b|) of two embedding signatures (0 when both are zero). */
    public static double signatureDistance(float[] a, float[] b) {
        if (a.length != b.length) return Double.POSITIVE_INFINITY;
        double diff = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            diff += (double) (a[i] - b[i]) * (a[i] - b[i]);
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        double norm = Math.sqrt(Math.max(na, nb));
        return norm == 0 ? 0 : Math.sqrt(diff) / norm;
    }

    /** "'stories260K' (dim 64, 5 layers, ..., fingerprint 1a2b3c4d5e6f)". */
    public String describe() {
        return Llama3.quote(modelName) + " (" + PredictorConfig.shape(dim, layers, heads, kvHeads, headSize, vocab) + ", fingerprint "
                + vocabularyHash.substring(0, Math.min(12, vocabularyHash.length())) + ")";
    }

    /**
     * Checks that {@code model} is the model this fingerprint was taken from (possibly quantized differently).
     * @param predictor names the predictor in the message
     * @throws UserError naming both: what the predictor was trained for and the model given
     */
    public void requireSameModel(ModelFingerprint model, String predictor) {
        String why = null;
        if (dim != model.dim || layers != model.layers || heads != model.heads || kvHeads != model.kvHeads
                || headSize != model.headSize || vocab != model.vocab) {
            why = "the shapes differ";
        } else if (!vocabularyHash.equals(model.vocabularyHash)) {
            why = "the vocabularies differ";
        } else {
            double d = signatureDistance(embeddingSignature, model.embeddingSignature);
            if (!(d <= MAX_SIGNATURE_DISTANCE)) {
                why = String.format(java.util.Locale.ROOT, "the shapes and vocabularies agree but the weights differ: token-embedding "
                        + "signature distance %.3f, at most %.2f for the same model in another quantization", d, MAX_SIGNATURE_DISTANCE);
            }
        }
        if (why != null) {
            throw new UserError(predictor + " was trained for model " + describe() + " but the model given is " + model.describe()
                    + ": " + why + "; use a predictor made for this model (./tokenbutler synth-predictor --model M.gguf makes a random one)");
        }
    }

    /**
     * {@link #requireSameModel} for a predictor that may have been imported ({@code imported} non-null): the
     * authors' checkpoint was trained on the original weights, and any GGUF of that base model (another converter,
     * another quantization) is the model it belongs to. So the shapes must agree as always, and then either the
     * vocabulary and weights agree (as for a predictor made here) or the model names do (compared without case and
     * punctuation); either way one stderr line says that the predictor was imported, from where.
     */
    public void requireSameModel(ModelFingerprint model, String predictor, PredictorFormat.Imported imported) {
        if (imported == null) {
            requireSameModel(model, predictor);
            return;
        }
        boolean sameShape = dim == model.dim && layers == model.layers && heads == model.heads && kvHeads == model.kvHeads
                && headSize == model.headSize && vocab == model.vocab;
        if (!sameShape) requireSameModel(model, predictor);   // the usual message: the shapes differ
        boolean sameWeights = vocabularyHash.equals(model.vocabularyHash)
                && signatureDistance(embeddingSignature, model.embeddingSignature) <= MAX_SIGNATURE_DISTANCE;
        if (!sameWeights && !comparableName(modelName).equals(comparableName(model.modelName))) {
            throw new UserError(predictor + " was " + imported.describe() + " for model " + describe() + " but the model given is "
                    + model.describe() + ": the shapes agree but neither the names nor the vocabulary and weights do; import the "
                    + "checkpoint again with --model pointing at this model if it is the same base model");
        }
        System.err.println("tokenbutler: " + predictor + " was " + imported.describe() + " for model " + Llama3.quote(modelName)
                + (sameWeights ? "" : "; the model given has the same name and shapes but another vocabulary or other weights"
                + " (another conversion or quantization of the base model), accepted because the predictor was imported"));
    }

    /** A model name without case, spaces or punctuation: "Llama 3.2 1B" and "llama-3.2-1b" compare equal. */
    static String comparableName(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9]", "");
    }

    @Override public boolean equals(Object o) {
        return o instanceof ModelFingerprint f && modelName.equals(f.modelName) && dim == f.dim && layers == f.layers
                && heads == f.heads && kvHeads == f.kvHeads && headSize == f.headSize && vocab == f.vocab
                && vocabularyHash.equals(f.vocabularyHash) && java.util.Arrays.equals(embeddingSignature, f.embeddingSignature);
    }

    @Override public int hashCode() { return vocabularyHash.hashCode(); }

    @Override public String toString() { return "ModelFingerprint" + describe(); }
}
