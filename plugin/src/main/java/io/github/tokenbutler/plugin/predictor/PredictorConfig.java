package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * Hyper-parameters of a TokenButler predictor and the shape of the base model it was trained for.
 * projDim = E/r, ffnDim = 2E/r, importanceHidden = I, dPrime = d' (16 in the paper).
 * fingerprint identifies the base model's shape and vocabulary (see {@link ModelFingerprint}; the weight part of
 * the fingerprint, an embedding signature, travels beside it in the file).
 */
public record PredictorConfig(
        int modelDim, int modelLayers, int modelHeads, int modelKvHeads, int modelHeadSize, int modelVocab,
        int projDim, int attnHeads, int ffnDim, int importanceHidden, int dPrime,
        float ropeTheta, float layerNormEps, String fingerprint,
        boolean residualNorm, boolean importanceNorm, RopeScaling ropeScaling) {

    /**
     * The architecture of plugin/README.md as trained here: no LayerNorm after the residual, none before the
     * importance MLPs, RoPE without frequency scaling. The three extensions exist for predictors imported from
     * later versions of the authors' code ({@code import-butler}).
     */
    public PredictorConfig(int modelDim, int modelLayers, int modelHeads, int modelKvHeads, int modelHeadSize, int modelVocab,
                           int projDim, int attnHeads, int ffnDim, int importanceHidden, int dPrime,
                           float ropeTheta, float layerNormEps, String fingerprint) {
        this(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab, projDim, attnHeads, ffnDim, importanceHidden,
                dPrime, ropeTheta, layerNormEps, fingerprint, false, false, null);
    }

    /** The same predictor with the three extensions of imported predictors set as given (ropeScaling null: none). */
    public PredictorConfig withExtensions(boolean residualNorm, boolean importanceNorm, RopeScaling ropeScaling) {
        return new PredictorConfig(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab, projDim, attnHeads, ffnDim,
                importanceHidden, dPrime, ropeTheta, layerNormEps, fingerprint, residualNorm, importanceNorm, ropeScaling);
    }

    /** True when any extension is on: the file then needs format version {@link PredictorFormat#FORMAT_VERSION_EXTENDED}. */
    public boolean extended() { return residualNorm || importanceNorm || ropeScaling != null; }

    /** The paper's defaults (section 3 of arXiv 2503.07518 v1): d' = 16, r = 8, I = 512. */
    public static final int PAPER_D_PRIME = 16, PAPER_REDUCTION = 8, PAPER_IMPORTANCE_HIDDEN = 512;
    /** PyTorch's nn.LayerNorm default, which the reference implementation trains with. */
    public static final float DEFAULT_LAYER_NORM_EPS = 1e-5f;

    /** r = E / projDim. */
    public int reduction() { return modelDim / projDim; }

    /** Head size of the predictor's own attention block. */
    public int attnHeadDim() { return projDim / attnHeads; }

    /** Length of one token's importance query or key over all (layer, head): L * H * d'. */
    public int importanceDim() { return modelLayers * modelHeads * dPrime; }

    /** Query heads per KV head of the base model. */
    public int modelKvGroup() { return modelHeads / modelKvHeads; }

    /** Number of learned parameters (every weight, bias and LayerNorm parameter). */
    public long parameterCount() {
        long e = modelDim, p = projDim, f = ffnDim, i = importanceHidden, out = importanceDim();
        return e * p              // input_proj
                + 3 * p * p       // attention q, k, v (no output projection in the paper's block)
                + 2 * p           // LayerNorm weight and bias
                + p * f + f       // FFN up + bias
                + f * e + e       // FFN down + bias
                + 2 * (e * i + i * out)  // q_importance and k_importance MLPs (no biases)
                + (residualNorm ? 2 * e : 0) + (importanceNorm ? 2 * e : 0);
    }

    /**
     * Checks that the numbers describe a predictor this code can run; every problem is a UserError naming
     * {@code where} (a file or a command), the field, what was expected and what was found.
     */
    public PredictorConfig validate(String where) {
        validateModelShape(where, modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab);
        positive(where, "projection length", projDim);
        positive(where, "attention head count", attnHeads);
        positive(where, "feed-forward length", ffnDim);
        positive(where, "importance hidden length", importanceHidden);
        positive(where, "d'", dPrime);
        if (modelDim % projDim != 0) {
            throw new UserError(where + ": projection length " + projDim + " must divide the model embedding length " + modelDim);
        }
        if (projDim % attnHeads != 0 || attnHeadDim() % 2 != 0) {
            throw new UserError(where + ": projection length " + projDim + " must split into " + attnHeads
                    + " attention heads of an even size (RoPE rotates pairs), got head size " + (double) projDim / attnHeads);
        }
        if (dPrime % 2 != 0) throw new UserError(where + ": d' must be even (RoPE rotates pairs), got " + dPrime);
        if ((long) modelLayers * modelHeads * dPrime > Integer.MAX_VALUE / 4) {
            throw new UserError(where + ": layers * heads * d' = " + (long) modelLayers * modelHeads * dPrime + " is too large");
        }
        if (!(ropeTheta > 0) || Float.isInfinite(ropeTheta)) throw new UserError(where + ": RoPE base must be a positive number, got " + ropeTheta);
        if (!(layerNormEps > 0) || Float.isInfinite(layerNormEps)) {
            throw new UserError(where + ": LayerNorm epsilon must be a positive number, got " + layerNormEps);
        }
        if (fingerprint == null || fingerprint.isEmpty()) throw new UserError(where + ": the base-model fingerprint is missing");
        if (ropeScaling != null) ropeScaling.validate(where);
        return this;
    }

    /** The base-model numbers both predictor architectures record: positive, heads a multiple of KV heads. */
    static void validateModelShape(String where, int dim, int layers, int heads, int kvHeads, int headSize, int vocab) {
        positive(where, "model embedding length", dim);
        positive(where, "model layer count", layers);
        positive(where, "model head count", heads);
        positive(where, "model KV head count", kvHeads);
        positive(where, "model head size", headSize);
        positive(where, "model vocabulary size", vocab);
        if (heads % kvHeads != 0) {
            throw new UserError(where + ": model head count " + heads + " is not a multiple of its KV head count " + kvHeads);
        }
    }

    static void positive(String where, String what, int v) {
        if (v <= 0) throw new UserError(where + ": " + what + " must be positive, got " + v);
    }

    /**
     * A predictor shape for a base model. Each argument 0 means "the default scaled to the model":
     * <ul>
     *   <li>d' = 16, or the model's head size when that is smaller (an importance logit stands for a dot
     *       product of head-size vectors; more dimensions than that buy nothing);</li>
     *   <li>attention heads = the model's query heads (as in the reference code);</li>
     *   <li>r = the largest of 8, 4, 2, 1 that leaves an even head size for the predictor's attention
     *       (E/r divisible by 2 * heads); for Llama-3.2-1B (E 2048, 32 heads) that is 8;</li>
     *   <li>I = 512, or E when E is smaller (so a tiny model does not get a predictor larger than itself).</li>
     * </ul>
     * The FFN length is always 2E/r. The RoPE base is the model's.
     */
    public static PredictorConfig forModel(ModelConfig model, String fingerprint, int dPrime, int reduction,
                                           int importanceHidden, int attnHeads) {
        String where = "predictor for a model of dim " + model.dim();
        int heads = attnHeads > 0 ? attnHeads : model.nHeads();
        int dp = dPrime > 0 ? dPrime : Math.min(PAPER_D_PRIME, model.headSize() - model.headSize() % 2);
        if (dp <= 0) dp = 2;
        int r = reduction;
        if (r <= 0) {
            for (int c : new int[]{PAPER_REDUCTION, 4, 2, 1}) {
                if (model.dim() % c == 0 && (model.dim() / c) % (2 * heads) == 0) { r = c; break; }
            }
            if (r <= 0) {
                throw new UserError(where + ": no reduction factor r in 8, 4, 2, 1 gives " + heads
                        + " attention heads of an even size (dim / r must be a multiple of " + 2 * heads + "); give another head count or reduction factor");
            }
        }
        if (model.dim() % r != 0) {
            throw new UserError(where + ": reduction factor " + r + " must divide the model embedding length " + model.dim());
        }
        int proj = model.dim() / r;
        int hidden = importanceHidden > 0 ? importanceHidden : Math.min(PAPER_IMPORTANCE_HIDDEN, model.dim());
        return new PredictorConfig(model.dim(), model.nLayers(), model.nHeads(), model.nKvHeads(), model.headSize(),
                model.vocabSize(), proj, heads, 2 * proj, hidden, dp, model.ropeTheta(), DEFAULT_LAYER_NORM_EPS, fingerprint)
                .validate(where);
    }

    /** The base-model shape in words, for messages: "dim 64, 5 layers, 8 heads / 4 KV heads, head size 8, vocab 512". */
    public String modelShape() {
        return shape(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab);
    }

    /** A base model's shape in the words of {@link #modelShape}. */
    public static String shape(ModelConfig m) {
        return shape(m.dim(), m.nLayers(), m.nHeads(), m.nKvHeads(), m.headSize(), m.vocabSize());
    }

    static String shape(int dim, int layers, int heads, int kvHeads, int headSize, int vocab) {
        return "dim " + dim + ", " + layers + " layers, " + heads + " heads / " + kvHeads + " KV heads, head size "
                + headSize + ", vocab " + vocab;
    }
}
