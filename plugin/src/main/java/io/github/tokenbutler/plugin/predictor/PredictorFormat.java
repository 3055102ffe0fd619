package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The predictor file: a GGUF of its own (general.architecture = "tokenbutler"). This class is the single
 * definition of its metadata keys and tensor names, used by the reader here and by the writer in gguf-tools
 * (io.github.tokenbutler.butlerfile.PredictorFileWriter); plugin/README.md documents the same table.
 */
public final class PredictorFormat {
    private PredictorFormat() {}

    public static final String ARCHITECTURE = "tokenbutler";
    /** Bumped when the meaning of a key or tensor changes; a reader refuses versions it does not know. */
    public static final int FORMAT_VERSION = 1;
    /** The format version of revised (v2) predictors: another architecture, its own keys and tensors below. */
    public static final int FORMAT_VERSION_REVISED = 2;
    /**
     * v1 with the extensions of predictors imported from later versions of the authors' code (a LayerNorm after the
     * residual, one before the importance MLPs, Llama-3 RoPE scaling): the same reader, keys and tensors below. A
     * file uses it only when an extension is on, so that an older reader refuses it instead of ignoring them.
     */
    public static final int FORMAT_VERSION_EXTENDED = 3;
    /** v2 whose layer l >= 1 takes its queries from producer (l-1)/G, slot (l-1) mod G (the authors' released code). */
    public static final int FORMAT_VERSION_REVISED_EXTENDED = 4;

    public static final String KEY_ARCHITECTURE = "general.architecture";
    public static final String KEY_NAME = "general.name";
    public static final String KEY_FORMAT_VERSION = "tokenbutler.format_version";
    public static final String KEY_ORIGIN = "tokenbutler.origin";
    public static final String KEY_PROJECTION_LENGTH = "tokenbutler.projection_length";
    public static final String KEY_REDUCTION_FACTOR = "tokenbutler.reduction_factor";
    public static final String KEY_ATTENTION_HEADS = "tokenbutler.attention.head_count";
    public static final String KEY_FFN_LENGTH = "tokenbutler.feed_forward_length";
    public static final String KEY_IMPORTANCE_HIDDEN = "tokenbutler.importance.hidden_length";
    public static final String KEY_D_PRIME = "tokenbutler.importance.key_length";
    public static final String KEY_ROPE_BASE = "tokenbutler.rope.freq_base";
    public static final String KEY_LAYER_NORM_EPS = "tokenbutler.layer_norm_epsilon";
    public static final String KEY_MODEL_NAME = "tokenbutler.model.name";
    public static final String KEY_MODEL_DIM = "tokenbutler.model.embedding_length";
    public static final String KEY_MODEL_LAYERS = "tokenbutler.model.block_count";
    public static final String KEY_MODEL_HEADS = "tokenbutler.model.head_count";
    public static final String KEY_MODEL_KV_HEADS = "tokenbutler.model.head_count_kv";
    public static final String KEY_MODEL_HEAD_SIZE = "tokenbutler.model.head_dim";
    public static final String KEY_MODEL_VOCAB = "tokenbutler.model.vocab_size";
    public static final String KEY_MODEL_FINGERPRINT = "tokenbutler.model.fingerprint";
    public static final String KEY_MODEL_EMBEDDING_SIGNATURE = "tokenbutler.model.embedding_signature";

    /** v2: layers between producers (G). */
    public static final String KEY_PRODUCER_SPACING = "tokenbutler.producer.spacing";
    /** v2: 1 when keys come from the model's keys before RoPE and both importance vectors are rotated, 0 otherwise. */
    public static final String KEY_ROTARY = "tokenbutler.importance.rotary";
    /** v2: producers, for readers that list them (always ceil(L / G)). */
    public static final String KEY_PRODUCER_COUNT = "tokenbutler.producer.count";
    /** v2, format 4: 1 when layer l >= 1 uses producer (l-1)/G, slot (l-1) mod G; 0 (layer l uses producer l/G, slot l mod G). */
    public static final String KEY_CONSUMER_OFFSET = "tokenbutler.producer.consumer_offset";

    /** v1, format 3: 1 when a LayerNorm (tb.residual_norm) follows the residual x + FFN. */
    public static final String KEY_RESIDUAL_NORM = "tokenbutler.residual_norm";
    /** v1, format 3: 1 when a LayerNorm (tb.importance_norm) comes before the importance MLPs. */
    public static final String KEY_IMPORTANCE_NORM = "tokenbutler.importance_norm";
    /** v1, format 3: "llama3" when the predictor's rotations use Llama-3 frequency scaling (the four keys after it). */
    public static final String KEY_ROPE_SCALING_TYPE = "tokenbutler.rope.scaling.type";
    public static final String KEY_ROPE_SCALING_FACTOR = "tokenbutler.rope.scaling.factor";
    public static final String KEY_ROPE_SCALING_LOW = "tokenbutler.rope.scaling.low_freq_factor";
    public static final String KEY_ROPE_SCALING_HIGH = "tokenbutler.rope.scaling.high_freq_factor";
    public static final String KEY_ROPE_SCALING_CONTEXT = "tokenbutler.rope.scaling.original_context_length";

    /** Imported predictors (any version): the checkpoint's file name, its SHA-256 and the layout it was read as. */
    public static final String KEY_IMPORT_SOURCE = "tokenbutler.import.source";
    public static final String KEY_IMPORT_SHA256 = "tokenbutler.import.sha256";
    public static final String KEY_IMPORT_LAYOUT = "tokenbutler.import.layout";

    public static final String INPUT_PROJ = "tb.input_proj.weight";
    public static final String ATTN_Q = "tb.attn_q.weight";
    public static final String ATTN_K = "tb.attn_k.weight";
    public static final String ATTN_V = "tb.attn_v.weight";
    public static final String ATTN_NORM_WEIGHT = "tb.attn_norm.weight";
    public static final String ATTN_NORM_BIAS = "tb.attn_norm.bias";
    public static final String FFN_UP = "tb.ffn_up.weight";
    public static final String FFN_UP_BIAS = "tb.ffn_up.bias";
    public static final String FFN_DOWN = "tb.ffn_down.weight";
    public static final String FFN_DOWN_BIAS = "tb.ffn_down.bias";
    public static final String Q_IMPORTANCE_UP = "tb.q_importance_up.weight";
    public static final String Q_IMPORTANCE_DOWN = "tb.q_importance_down.weight";
    public static final String K_IMPORTANCE_UP = "tb.k_importance_up.weight";
    public static final String K_IMPORTANCE_DOWN = "tb.k_importance_down.weight";
    public static final String RESIDUAL_NORM_WEIGHT = "tb.residual_norm.weight";
    public static final String RESIDUAL_NORM_BIAS = "tb.residual_norm.bias";
    public static final String IMPORTANCE_NORM_WEIGHT = "tb.importance_norm.weight";
    public static final String IMPORTANCE_NORM_BIAS = "tb.importance_norm.bias";

    /**
     * Every tensor with its shape in GGUF order (shape[0] is the row length = the input size of a linear layer;
     * a row is one output, as in a PyTorch Linear weight), in file order.
     */
    public static Map<String, long[]> tensorShapes(PredictorConfig c) {
        long e = c.modelDim(), p = c.projDim(), f = c.ffnDim(), i = c.importanceHidden(), out = c.importanceDim();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(INPUT_PROJ, new long[]{e, p});
        m.put(ATTN_Q, new long[]{p, p});
        m.put(ATTN_K, new long[]{p, p});
        m.put(ATTN_V, new long[]{p, p});
        m.put(ATTN_NORM_WEIGHT, new long[]{p});
        m.put(ATTN_NORM_BIAS, new long[]{p});
        m.put(FFN_UP, new long[]{p, f});
        m.put(FFN_UP_BIAS, new long[]{f});
        m.put(FFN_DOWN, new long[]{f, e});
        m.put(FFN_DOWN_BIAS, new long[]{e});
        m.put(Q_IMPORTANCE_UP, new long[]{e, i});
        m.put(Q_IMPORTANCE_DOWN, new long[]{i, out});
        m.put(K_IMPORTANCE_UP, new long[]{e, i});
        m.put(K_IMPORTANCE_DOWN, new long[]{i, out});
        if (c.residualNorm()) {
            m.put(RESIDUAL_NORM_WEIGHT, new long[]{e});
            m.put(RESIDUAL_NORM_BIAS, new long[]{e});
        }
        if (c.importanceNorm()) {
            m.put(IMPORTANCE_NORM_WEIGHT, new long[]{e});
            m.put(IMPORTANCE_NORM_BIAS, new long[]{e});
        }
        return m;
    }

    /** v2, producer p (at layer p*G): the LayerNorm of its attention input, weight and bias [E]. */
    public static String producerNormWeight(int p) { return "tb2.producer." + p + ".norm.weight"; }
    public static String producerNormBias(int p) { return "tb2.producer." + p + ".norm.bias"; }
    /** v2, producer p: Linear(E -> I), weight [I][E] (GGUF shape {E, I}) and bias [I]. */
    public static String producerUp(int p) { return "tb2.producer." + p + ".q_up.weight"; }
    public static String producerUpBias(int p) { return "tb2.producer." + p + ".q_up.bias"; }
    /** v2, producer p: Linear(I -> G*H*d'), weight [G*H*d'][I] and bias; output (g*H + h)*d' + j is layer p*G+g, head h. */
    public static String producerDown(int p) { return "tb2.producer." + p + ".q_down.weight"; }
    public static String producerDownBias(int p) { return "tb2.producer." + p + ".q_down.bias"; }
    /** v2, layer l: the key projection, [H_kv*d'][head size] (row kv*d' + j maps KV head kv's post-RoPE key to element j). */
    public static String keyProjection(int layer) { return "tb2.blk." + layer + ".key_proj.weight"; }

    /** Every tensor of a v2 predictor with its shape in GGUF order, in file order. */
    public static Map<String, long[]> tensorShapes(RevisedPredictorConfig c) {
        long e = c.modelDim(), i = c.importanceHidden(), out = c.producerOutput();
        Map<String, long[]> m = new LinkedHashMap<>();
        for (int p = 0; p < c.producers(); p++) {
            m.put(producerNormWeight(p), new long[]{e});
            m.put(producerNormBias(p), new long[]{e});
            m.put(producerUp(p), new long[]{e, i});
            m.put(producerUpBias(p), new long[]{i});
            m.put(producerDown(p), new long[]{i, out});
            m.put(producerDownBias(p), new long[]{out});
        }
        for (int l = 0; l < c.modelLayers(); l++) m.put(keyProjection(l), new long[]{c.modelHeadSize(), (long) c.modelKvHeads() * c.dPrime()});
        return m;
    }

    /** The metadata of a v2 predictor file, in file order. */
    public static List<MetadataEntry> metadata(RevisedPredictorConfig c, ModelFingerprint fingerprint, String origin) {
        if (!c.fingerprint().equals(fingerprint.vocabularyHash())) {
            throw new IllegalArgumentException("config fingerprint " + c.fingerprint() + " is not the fingerprint's hash " + fingerprint.vocabularyHash());
        }
        List<MetadataEntry> m = new ArrayList<>();
        m.add(string(KEY_ARCHITECTURE, ARCHITECTURE));
        m.add(string(KEY_NAME, "TokenButler v2 predictor for " + fingerprint.modelName()));
        m.add(u32(KEY_FORMAT_VERSION, c.consumerOffset() != 0 ? FORMAT_VERSION_REVISED_EXTENDED : FORMAT_VERSION_REVISED));
        m.add(string(KEY_ORIGIN, origin));
        m.add(u32(KEY_IMPORTANCE_HIDDEN, c.importanceHidden()));
        m.add(u32(KEY_D_PRIME, c.dPrime()));
        m.add(u32(KEY_PRODUCER_SPACING, c.producerSpacing()));
        m.add(u32(KEY_PRODUCER_COUNT, c.producers()));
        m.add(u32(KEY_ROTARY, c.rotary() ? 1 : 0));
        if (c.consumerOffset() != 0) m.add(u32(KEY_CONSUMER_OFFSET, c.consumerOffset()));
        m.add(new MetadataEntry(KEY_ROPE_BASE, GGUFValueType.FLOAT32, null, c.ropeTheta()));
        m.add(new MetadataEntry(KEY_LAYER_NORM_EPS, GGUFValueType.FLOAT32, null, c.layerNormEps()));
        modelMetadata(m, fingerprint, c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(), c.modelHeadSize(), c.modelVocab());
        return m;
    }

    private static void modelMetadata(List<MetadataEntry> m, ModelFingerprint fingerprint, int dim, int layers, int heads, int kvHeads,
                                      int headSize, int vocab) {
        m.add(string(KEY_MODEL_NAME, fingerprint.modelName()));
        m.add(u32(KEY_MODEL_DIM, dim));
        m.add(u32(KEY_MODEL_LAYERS, layers));
        m.add(u32(KEY_MODEL_HEADS, heads));
        m.add(u32(KEY_MODEL_KV_HEADS, kvHeads));
        m.add(u32(KEY_MODEL_HEAD_SIZE, headSize));
        m.add(u32(KEY_MODEL_VOCAB, vocab));
        m.add(string(KEY_MODEL_FINGERPRINT, fingerprint.vocabularyHash()));
        m.add(new MetadataEntry(KEY_MODEL_EMBEDDING_SIGNATURE, GGUFValueType.ARRAY, GGUFValueType.FLOAT32,
                fingerprint.embeddingSignature().clone()));
    }

    /**
     * 1 (the v1 predictor, format 1 or 3) or 2 (the revised one, format 2 or 4) for a TokenButler predictor file;
     * anything else (not a predictor, an unknown version) is the UserError {@link #readHeader} would give.
     */
    public static int architectureVersion(GGUF gguf) {
        int version = fileVersion(gguf, "predictor " + gguf.path());
        return version == FORMAT_VERSION || version == FORMAT_VERSION_EXTENDED ? FORMAT_VERSION : FORMAT_VERSION_REVISED;
    }

    private static int fileVersion(GGUF gguf, String where) {
        requireArchitecture(gguf, where);
        int version = requireInt(gguf, where, KEY_FORMAT_VERSION);
        if (version < FORMAT_VERSION || version > FORMAT_VERSION_REVISED_EXTENDED) {
            throw new UserError(where + ": predictor format version " + version + " is not supported (this build reads versions "
                    + FORMAT_VERSION + " to " + FORMAT_VERSION_REVISED_EXTENDED + ")");
        }
        return version;
    }

    /** Where an imported predictor came from ({@link #KEY_IMPORT_SOURCE} and its neighbours); null for predictors made here. */
    public record Imported(String source, String sha256, String layout) {
        /** "imported from F (sha256 0123456789ab, layout L)". */
        public String describe() {
            return "imported from " + source + " (sha256 " + sha256.substring(0, Math.min(12, sha256.length())) + ", " + layout + ")";
        }
    }

    /** The import keys of a predictor file, or null when it was not imported. */
    public static Imported imported(GGUF gguf) {
        if (!(gguf.get(KEY_IMPORT_SOURCE) instanceof String source)) return null;
        return new Imported(source, gguf.get(KEY_IMPORT_SHA256) instanceof String h ? h : "",
                gguf.get(KEY_IMPORT_LAYOUT) instanceof String l ? l : "");
    }

    /** The metadata entries that record an import, to append to {@link #metadata}'s. */
    public static List<MetadataEntry> importMetadata(Imported imported) {
        return List.of(string(KEY_IMPORT_SOURCE, imported.source()), string(KEY_IMPORT_SHA256, imported.sha256()),
                string(KEY_IMPORT_LAYOUT, imported.layout()));
    }

    /** A v2 predictor file's config and fingerprint. */
    public record RevisedHeader(RevisedPredictorConfig config, ModelFingerprint fingerprint, String origin) {}

    /** Reads and checks the metadata of a v2 predictor file, with the same errors as {@link #readHeader}. */
    public static RevisedHeader readRevisedHeader(GGUF gguf) {
        String where = "predictor " + gguf.path();
        int fileVersion = fileVersion(gguf, where);
        if (fileVersion != FORMAT_VERSION_REVISED && fileVersion != FORMAT_VERSION_REVISED_EXTENDED) {
            throw new UserError(where + ": a v1 predictor where a v2 (revised) one is expected");
        }
        int consumerOffset = 0;
        if (fileVersion == FORMAT_VERSION_REVISED_EXTENDED) {
            consumerOffset = requireInt(gguf, where, KEY_CONSUMER_OFFSET);
            if (consumerOffset != 1) throw new UserError(where + ": metadata key '" + KEY_CONSUMER_OFFSET + "' should be 1 in format version "
                    + FORMAT_VERSION_REVISED_EXTENDED + ", got " + consumerOffset);
        }
        float[] signature = signature(gguf, where);
        String hash = requireString(gguf, where, KEY_MODEL_FINGERPRINT);
        RevisedPredictorConfig c = new RevisedPredictorConfig(requireInt(gguf, where, KEY_MODEL_DIM), requireInt(gguf, where, KEY_MODEL_LAYERS),
                requireInt(gguf, where, KEY_MODEL_HEADS), requireInt(gguf, where, KEY_MODEL_KV_HEADS),
                requireInt(gguf, where, KEY_MODEL_HEAD_SIZE), requireInt(gguf, where, KEY_MODEL_VOCAB),
                requireInt(gguf, where, KEY_D_PRIME), requireInt(gguf, where, KEY_IMPORTANCE_HIDDEN),
                requireInt(gguf, where, KEY_PRODUCER_SPACING), requireFlag(gguf, where, KEY_ROTARY), requireFloat(gguf, where, KEY_ROPE_BASE),
                requireFloat(gguf, where, KEY_LAYER_NORM_EPS), hash).withConsumerOffset(consumerOffset).validate(where);
        int producers = requireInt(gguf, where, KEY_PRODUCER_COUNT);
        if (producers != c.producers()) {
            throw new UserError(where + ": " + KEY_PRODUCER_COUNT + " should be ceil(" + c.modelLayers() + " layers / spacing "
                    + c.producerSpacing() + ") = " + c.producers() + ", got " + producers);
        }
        String modelName = requireString(gguf, where, KEY_MODEL_NAME);
        Object origin = gguf.get(KEY_ORIGIN);
        return new RevisedHeader(c, new ModelFingerprint(modelName, c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(),
                c.modelHeadSize(), c.modelVocab(), hash, signature), origin instanceof String s ? s : "");
    }

    private static float[] signature(GGUF gguf, String where) {
        float[] signature = requireFloatArray(gguf, where, KEY_MODEL_EMBEDDING_SIGNATURE);
        int signatureLength = ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS;
        if (signature.length != signatureLength) {
            throw new UserError(where + ": metadata key '" + KEY_MODEL_EMBEDDING_SIGNATURE + "' should hold " + signatureLength
                    + " numbers, holds " + signature.length);
        }
        return signature;
    }

    /** One metadata entry as the writer puts it; elementType is set for arrays only. */
    public record MetadataEntry(String key, GGUFValueType type, GGUFValueType elementType, Object value) {}

    /**
     * The metadata of a predictor file, in file order.
     * @param origin one line saying where the weights come from (e.g. "synthetic random weights, seed 0")
     */
    public static List<MetadataEntry> metadata(PredictorConfig c, ModelFingerprint fingerprint, String origin) {
        if (!c.fingerprint().equals(fingerprint.vocabularyHash())) {
            throw new IllegalArgumentException("config fingerprint " + c.fingerprint() + " is not the fingerprint's hash " + fingerprint.vocabularyHash());
        }
        List<MetadataEntry> m = new ArrayList<>();
        m.add(string(KEY_ARCHITECTURE, ARCHITECTURE));
        m.add(string(KEY_NAME, "TokenButler predictor for " + fingerprint.modelName()));
        m.add(u32(KEY_FORMAT_VERSION, c.extended() ? FORMAT_VERSION_EXTENDED : FORMAT_VERSION));
        m.add(string(KEY_ORIGIN, origin));
        m.add(u32(KEY_PROJECTION_LENGTH, c.projDim()));
        m.add(u32(KEY_REDUCTION_FACTOR, c.reduction()));
        m.add(u32(KEY_ATTENTION_HEADS, c.attnHeads()));
        m.add(u32(KEY_FFN_LENGTH, c.ffnDim()));
        m.add(u32(KEY_IMPORTANCE_HIDDEN, c.importanceHidden()));
        m.add(u32(KEY_D_PRIME, c.dPrime()));
        m.add(new MetadataEntry(KEY_ROPE_BASE, GGUFValueType.FLOAT32, null, c.ropeTheta()));
        m.add(new MetadataEntry(KEY_LAYER_NORM_EPS, GGUFValueType.FLOAT32, null, c.layerNormEps()));
        if (c.extended()) {
            m.add(u32(KEY_RESIDUAL_NORM, c.residualNorm() ? 1 : 0));
            m.add(u32(KEY_IMPORTANCE_NORM, c.importanceNorm() ? 1 : 0));
            if (c.ropeScaling() != null) {
                RopeScaling r = c.ropeScaling();
                m.add(string(KEY_ROPE_SCALING_TYPE, "llama3"));
                m.add(new MetadataEntry(KEY_ROPE_SCALING_FACTOR, GGUFValueType.FLOAT32, null, r.factor()));
                m.add(new MetadataEntry(KEY_ROPE_SCALING_LOW, GGUFValueType.FLOAT32, null, r.lowFreqFactor()));
                m.add(new MetadataEntry(KEY_ROPE_SCALING_HIGH, GGUFValueType.FLOAT32, null, r.highFreqFactor()));
                m.add(u32(KEY_ROPE_SCALING_CONTEXT, r.originalContextLength()));
            }
        }
        modelMetadata(m, fingerprint, c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(), c.modelHeadSize(), c.modelVocab());
        return m;
    }

    private static MetadataEntry string(String key, String value) { return new MetadataEntry(key, GGUFValueType.STRING, null, value); }
    private static MetadataEntry u32(String key, int value) { return new MetadataEntry(key, GGUFValueType.UINT32, null, value); }

    /** A predictor file's config and fingerprint. */
    public record Header(PredictorConfig config, ModelFingerprint fingerprint, String origin) {}

    /**
     * Reads and checks the metadata of a predictor file. A file that is not a predictor (another architecture,
     * e.g. a model given where the predictor was expected), of an unknown format version, or with a key missing
     * or inconsistent, is a UserError naming the file, the key, what was expected and what was found.
     */
    public static Header readHeader(GGUF gguf) {
        String where = "predictor " + gguf.path();
        int fileVersion = fileVersion(gguf, where);
        if (fileVersion != FORMAT_VERSION && fileVersion != FORMAT_VERSION_EXTENDED) {
            throw new UserError(where + ": a v2 (revised) predictor where a v1 one is expected (this command takes v1 predictors only)");
        }
        int proj = requireInt(gguf, where, KEY_PROJECTION_LENGTH);
        int reduction = requireInt(gguf, where, KEY_REDUCTION_FACTOR);
        int dim = requireInt(gguf, where, KEY_MODEL_DIM);
        if ((long) proj * reduction != dim) {
            throw new UserError(where + ": " + KEY_PROJECTION_LENGTH + " " + proj + " times " + KEY_REDUCTION_FACTOR + " " + reduction
                    + " should equal " + KEY_MODEL_DIM + " " + dim);
        }
        float[] signature = signature(gguf, where);
        String hash = requireString(gguf, where, KEY_MODEL_FINGERPRINT);
        PredictorConfig c = new PredictorConfig(dim, requireInt(gguf, where, KEY_MODEL_LAYERS),
                requireInt(gguf, where, KEY_MODEL_HEADS), requireInt(gguf, where, KEY_MODEL_KV_HEADS),
                requireInt(gguf, where, KEY_MODEL_HEAD_SIZE), requireInt(gguf, where, KEY_MODEL_VOCAB),
                proj, requireInt(gguf, where, KEY_ATTENTION_HEADS), requireInt(gguf, where, KEY_FFN_LENGTH),
                requireInt(gguf, where, KEY_IMPORTANCE_HIDDEN), requireInt(gguf, where, KEY_D_PRIME),
                requireFloat(gguf, where, KEY_ROPE_BASE), requireFloat(gguf, where, KEY_LAYER_NORM_EPS), hash);
        if (fileVersion == FORMAT_VERSION_EXTENDED) {
            RopeScaling scaling = null;
            if (gguf.get(KEY_ROPE_SCALING_TYPE) != null) {
                String type = requireString(gguf, where, KEY_ROPE_SCALING_TYPE);
                if (!type.equals("llama3")) throw new UserError(where + ": metadata key '" + KEY_ROPE_SCALING_TYPE + "' should be 'llama3', got " + Llama3.quote(type));
                scaling = new RopeScaling(requireFloat(gguf, where, KEY_ROPE_SCALING_FACTOR), requireFloat(gguf, where, KEY_ROPE_SCALING_LOW),
                        requireFloat(gguf, where, KEY_ROPE_SCALING_HIGH), requireInt(gguf, where, KEY_ROPE_SCALING_CONTEXT));
            }
            c = c.withExtensions(requireFlag(gguf, where, KEY_RESIDUAL_NORM), requireFlag(gguf, where, KEY_IMPORTANCE_NORM), scaling);
        }
        c.validate(where);
        if (c.ffnDim() != 2 * c.projDim()) {
            throw new UserError(where + ": " + KEY_FFN_LENGTH + " should be 2 * " + KEY_PROJECTION_LENGTH + " = " + 2 * c.projDim()
                    + ", got " + c.ffnDim());
        }
        String modelName = requireString(gguf, where, KEY_MODEL_NAME);
        Object origin = gguf.get(KEY_ORIGIN);
        return new Header(c, new ModelFingerprint(modelName, c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(),
                c.modelHeadSize(), c.modelVocab(), hash, signature), origin instanceof String s ? s : "");
    }

    private static void requireArchitecture(GGUF gguf, String where) {
        Object arch = gguf.get(KEY_ARCHITECTURE);
        if (!ARCHITECTURE.equals(arch)) {
            throw new UserError(where + ": not a TokenButler predictor: " + KEY_ARCHITECTURE + " is "
                    + (arch == null ? "missing" : arch instanceof String a ? Llama3.quote(a) : "of type " + gguf.valueTypes().get(KEY_ARCHITECTURE)) + ", expected '" + ARCHITECTURE + "'"
                    + (arch != null ? " (was a model file given as the predictor?)" : ""));
        }
    }

    private static int requireInt(GGUF g, String where, String key) {
        if (g.get(key) == null) throw new UserError(where + ": required metadata key '" + key + "' is missing");
        long v = g.getLong(key, -1);
        if (v < 0 || v > Integer.MAX_VALUE) throw new UserError(where + ": metadata key '" + key + "' should be a positive 32-bit integer, got " + v);
        return (int) v;
    }

    private static boolean requireFlag(GGUF g, String where, String key) {
        int v = requireInt(g, where, key);
        if (v > 1) throw new UserError(where + ": metadata key '" + key + "' should be 0 or 1, got " + v);
        return v == 1;
    }

    private static float requireFloat(GGUF g, String where, String key) {
        if (g.get(key) == null) throw new UserError(where + ": required metadata key '" + key + "' is missing");
        return g.getFloat(key, Float.NaN);
    }

    private static String requireString(GGUF g, String where, String key) {
        Object v = g.get(key);
        if (v == null) throw new UserError(where + ": required metadata key '" + key + "' is missing");
        if (!(v instanceof String s)) throw new UserError(where + ": metadata key '" + key + "' should be a string, got " + g.valueTypes().get(key));
        return s;
    }

    private static float[] requireFloatArray(GGUF g, String where, String key) {
        Object v = g.get(key);
        if (v == null) throw new UserError(where + ": required metadata key '" + key + "' is missing");
        if (!(v instanceof float[] a)) {
            throw new UserError(where + ": metadata key '" + key + "' should be an array of FLOAT32, got " + g.valueTypes().get(key)
                    + (g.arrayElementTypes().get(key) != null ? " of " + g.arrayElementTypes().get(key) : ""));
        }
        return a.clone();
    }
}
