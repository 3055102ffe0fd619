package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * Hyper-parameters of a revised (v2) TokenButler predictor and the shape of the base model it was trained for.
 *
 * <p>The revised design (arXiv 2503.07518 v2): importance keys are a learned projection of the model's own
 * post-RoPE keys, one d'-vector per (layer, KV head); importance queries come from "producer" layers every G
 * layers, whose attention input goes through LayerNorm -> Linear(E -> I) -> SiLU -> Linear(I -> G*H*d') and
 * predicts the queries of its own layer and the next G-1. Producers sit at layers 0, G, 2G, ...; the last one may
 * cover fewer than G layers (its extra outputs are computed and unused, so that every producer has the same shape).
 * dPrime = d', importanceHidden = I, producerSpacing = G; fingerprint as in {@link PredictorConfig}.
 *
 * <p>rotary: the keys are projected from the model's keys before RoPE, and both importance vectors are rotated
 * in d' dimensions at their positions (base ropeTheta, the "rotate half" convention of v1), so that a logit
 * depends on the distance between query and key as attention does; otherwise keys are projected from the
 * post-RoPE keys and nothing is rotated (the design as the paper describes it; see plugin/README.md for what
 * each gave on stories260K).
 */
public record RevisedPredictorConfig(
        int modelDim, int modelLayers, int modelHeads, int modelKvHeads, int modelHeadSize, int modelVocab,
        int dPrime, int importanceHidden, int producerSpacing, boolean rotary, float ropeTheta, float layerNormEps, String fingerprint,
        int consumerOffset) {

    /**
     * consumerOffset 0: layer l takes its queries from producer l/G, slot l mod G (the design trained here). The
     * authors' released code uses 1 (layer l >= 1 from producer (l-1)/G, slot (l-1) mod G); only imported predictors have it.
     */
    public RevisedPredictorConfig(int modelDim, int modelLayers, int modelHeads, int modelKvHeads, int modelHeadSize, int modelVocab,
                                  int dPrime, int importanceHidden, int producerSpacing, boolean rotary, float ropeTheta, float layerNormEps,
                                  String fingerprint) {
        this(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab, dPrime, importanceHidden, producerSpacing, rotary,
                ropeTheta, layerNormEps, fingerprint, 0);
    }

    /** The same predictor with another consumer offset (0 or 1). */
    public RevisedPredictorConfig withConsumerOffset(int offset) {
        return new RevisedPredictorConfig(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab, dPrime, importanceHidden,
                producerSpacing, rotary, ropeTheta, layerNormEps, fingerprint, offset);
    }

    /** The first layer whose queries producer p writes: p*G + consumerOffset. */
    public int firstServedLayer(int producer) { return producer * producerSpacing + consumerOffset; }

    /** The authors' released defaults: d' 16, I 512, a producer every 4 layers. */
    public static final int DEFAULT_D_PRIME = 16, DEFAULT_IMPORTANCE_HIDDEN = 512, DEFAULT_PRODUCER_SPACING = 4;

    /** Producer layers: 0, G, 2G, ... below the model's layer count. */
    public int producers() { return (modelLayers + producerSpacing - 1) / producerSpacing; }

    /** The producer whose output holds layer `layer`'s queries. */
    public int producerOf(int layer) { return layer / producerSpacing; }

    /** One producer's output: G * H * d' (layer g of the producer's G, head h, element j at (g*H + h)*d' + j). */
    public int producerOutput() { return producerSpacing * modelHeads * dPrime; }

    /** Importance queries of one token over all (layer, head): L * H * d'. */
    public int queryLength() { return modelLayers * modelHeads * dPrime; }

    /** Importance keys of one token over all (layer, KV head): L * H_kv * d'. */
    public int keyLength() { return modelLayers * modelKvHeads * dPrime; }

    public int modelKvGroup() { return modelHeads / modelKvHeads; }

    /** Every weight, bias and LayerNorm parameter. */
    public long parameterCount() {
        long e = modelDim, i = importanceHidden, out = producerOutput();
        long perProducer = 2 * e + e * i + i + i * out + out;
        return producers() * perProducer + (long) modelLayers * modelKvHeads * modelHeadSize * dPrime;
    }

    /** Checks that the numbers describe a predictor this code can run; each problem is a UserError naming {@code where}. */
    public RevisedPredictorConfig validate(String where) {
        PredictorConfig.validateModelShape(where, modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab);
        PredictorConfig.positive(where, "d'", dPrime);
        PredictorConfig.positive(where, "importance hidden length", importanceHidden);
        PredictorConfig.positive(where, "producer spacing", producerSpacing);
        if (producerSpacing > modelLayers) {
            throw new UserError(where + ": producer spacing " + producerSpacing + " is above the model's " + modelLayers + " layers");
        }
        if ((long) producerSpacing * modelHeads * dPrime * importanceHidden > Integer.MAX_VALUE / 2
                || (long) modelDim * importanceHidden > Integer.MAX_VALUE / 2) {
            throw new UserError(where + ": a producer of " + importanceHidden + " hidden units for " + modelDim + " inputs and "
                    + producerOutput() + " outputs is too large");
        }
        if (rotary && dPrime % 2 != 0) throw new UserError(where + ": d' must be even for rotary importance vectors (RoPE rotates pairs), got " + dPrime);
        if (rotary && (!(ropeTheta > 0) || Float.isInfinite(ropeTheta))) throw new UserError(where + ": RoPE base must be a positive number, got " + ropeTheta);
        if (!(layerNormEps > 0) || Float.isInfinite(layerNormEps)) {
            throw new UserError(where + ": LayerNorm epsilon must be a positive number, got " + layerNormEps);
        }
        if (fingerprint == null || fingerprint.isEmpty()) throw new UserError(where + ": the base-model fingerprint is missing");
        if (consumerOffset != 0 && consumerOffset != 1) throw new UserError(where + ": consumer offset must be 0 or 1, got " + consumerOffset);
        return this;
    }

    /**
     * A predictor shape for a base model; each argument 0 means the default: d' 16 (or the head size when smaller),
     * I 512 (or E when smaller), G 4 (or the layer count when smaller).
     */
    public static RevisedPredictorConfig forModel(ModelConfig model, String fingerprint, int dPrime, int importanceHidden, int spacing, boolean rotary) {
        int dp = dPrime > 0 ? dPrime : Math.min(DEFAULT_D_PRIME, model.headSize());
        int hidden = importanceHidden > 0 ? importanceHidden : Math.min(DEFAULT_IMPORTANCE_HIDDEN, model.dim());
        int g = spacing > 0 ? spacing : Math.min(DEFAULT_PRODUCER_SPACING, model.nLayers());
        return new RevisedPredictorConfig(model.dim(), model.nLayers(), model.nHeads(), model.nKvHeads(), model.headSize(),
                model.vocabSize(), dp, hidden, g, rotary, model.ropeTheta(), PredictorConfig.DEFAULT_LAYER_NORM_EPS, fingerprint)
                .validate("v2 predictor for a model of dim " + model.dim());
    }

    /** The base-model shape in words, for messages. */
    public String modelShape() {
        return PredictorConfig.shape(modelDim, modelLayers, modelHeads, modelKvHeads, modelHeadSize, modelVocab);
    }
}
