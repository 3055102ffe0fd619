package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.checkpoint.Checkpoint;
import io.github.tokenbutler.checkpoint.CheckpointTensor;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.plugin.predictor.RopeScaling;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps the authors' predictor state dicts (abdelfattah-lab/TokenButler) onto our predictor layouts. The names,
 * shapes and conventions it relies on, as read in their code:
 *
 * <p><b>v1</b> ({@code TokenImportancePredictorAttentive}, one producer at layer 0 predicting all L layers):
 * {@code input_proj} [P, E], {@code q/k/v_proj_attn} [P, P], {@code norm1} [P], {@code ffn.0} [2P, P] + bias,
 * {@code ffn.2} [E, 2P] + bias, {@code q/k_proj_importance.0} [I, E], {@code .2} [L*H*d', I], optional
 * {@code norm2} [E] (applied after the residual in the published "layer-norm added" version) and
 * {@code norm_importance} [E] (before the MLPs, in later code). Their {@code view(B*H, N, L, d')} after permuting to
 * [B, N, H, L, d'] regroups the output blocks: the consumer at layer l, head h reads block h*L + l, ours l*H + h, so
 * the rows of the two {@code .2} weights are permuted. RoPE: rotate-half, the model's base, and in every version
 * after the first Llama-3 scaling with fixed numbers ({@link RopeScaling#AUTHORS_LLAMA3}).
 *
 * <p><b>v2</b> ({@code tokenbutler_project}, one state dict per producer at layers 0, G, 2G, ...):
 * {@code norm_importance} [E], {@code q_mlps.0.0} [I, E], {@code q_mlps.0.2} [G*H*d', I] (no biases: ours are set
 * to zero), {@code key_cache_proj} [L, heads, head size, d'] (heads = KV heads, or query heads over keys repeated per
 * group), each producer holding its own copy of which layer l takes the rows of producer (l-1)/G. Layer l >= 1 uses
 * producer (l-1)/G, slot (l-1) mod G: our consumer offset 1. Keys are the model's post-RoPE keys, nothing rotated:
 * our {@code rotary} 0.
 */
public final class ButlerImport {
    private ButlerImport() {}

    static final String NAMESPACE = "sparse_token_predictor.";
    private static final Pattern LAYER = Pattern.compile("layers\\.(\\d+)\\.");

    /** What the options fix: d', I and G (checked against the shapes; the command passes the published defaults when not given), the rest 0 / null for the rule in the comments. */
    public record Options(String arch, int dPrime, int importanceHidden, int spacing, int attnHeads, String rope, boolean ignoreNorm2,
                          boolean meanKeyHeads) {}

    /** The imported predictor, ready to write, and lines describing what was done. */
    public sealed interface Result permits V1, V2 {
        List<String> notes();
        String layout();
    }

    public record V1(PredictorConfig config, PredictorWeights weights, List<String> notes, String layout) implements Result {}

    public record V2(RevisedPredictorConfig config, RevisedPredictorWeights weights, List<String> notes, String layout) implements Result {}

    /** One producer's predictor tensors, names without the namespace prefix. */
    record Producer(String prefix, Map<String, CheckpointTensor> tensors) {}

    public static Result map(Checkpoint checkpoint, ModelConfig model, ModelFingerprint fingerprint, Options o) {
        String where = "checkpoint " + checkpoint.path();
        List<String> notes = new ArrayList<>();
        List<Producer> producers = producers(checkpoint, where, notes);
        boolean v1 = producers.getFirst().tensors().containsKey("input_proj.weight");
        boolean v2 = producers.stream().anyMatch(p -> p.tensors().keySet().stream().anyMatch(n -> n.startsWith("q_mlps.") || n.equals("key_cache_proj")));
        if (v1 && v2) throw new UserError(where + ": holds both v1 (input_proj) and v2 (q_mlps, key_cache_proj) predictor tensors");
        if (!v1 && !v2) {
            throw new UserError(where + ": no TokenButler predictor tensors (expected " + NAMESPACE + "input_proj.weight for v1 or "
                    + NAMESPACE + "q_mlps.0.0.weight for v2); found " + sample(producers.getFirst().tensors().keySet()));
        }
        if (o.arch() != null && !o.arch().equals(v1 ? "v1" : "v2")) {
            throw new UserError(where + ": --arch " + o.arch() + " was given but the checkpoint holds a " + (v1 ? "v1" : "v2") + " predictor ("
                    + (v1 ? "input_proj, q/k_proj_importance" : "q_mlps, key_cache_proj") + ")");
        }
        return v1 ? mapV1(where, producers, model, fingerprint, o, notes) : mapV2(where, producers, model, fingerprint, o, notes);
    }

    /**
     * The producers of a checkpoint: every tensor under "...sparse_token_predictor." grouped by what precedes it
     * (one group per state dict in the authors' lists; in a Hugging Face model file, one per producer layer, in layer
     * order), or a whole state dict of bare names. Tensors outside are the base model's and are ignored (counted).
     */
    static List<Producer> producers(Checkpoint checkpoint, String where, List<String> notes) {
        List<Producer> out = new ArrayList<>();
        int ignored = 0;
        Set<String> ignoredKinds = new LinkedHashSet<>();
        for (Map<String, CheckpointTensor> sd : checkpoint.stateDicts()) {
            Map<String, Map<String, CheckpointTensor>> byPrefix = new TreeMap<>((a, b) -> {
                int la = layerOf(a), lb = layerOf(b);
                return la != lb ? Integer.compare(la, lb) : a.compareTo(b);
            });
            boolean anyPrefixed = sd.keySet().stream().anyMatch(n -> n.contains(NAMESPACE));
            for (Map.Entry<String, CheckpointTensor> e : sd.entrySet()) {
                String name = e.getKey();
                int at = name.indexOf(NAMESPACE);
                if (!anyPrefixed) {
                    byPrefix.computeIfAbsent("", k -> new LinkedHashMap<>()).put(name, e.getValue());
                } else if (at < 0) {
                    ignored++;
                    ignoredKinds.add(name.contains("sparse_head_predictor.") ? "the head predictor" : "the base model's weights");
                } else if (name.endsWith(".inv_freq")) {
                    ignored++;
                    ignoredKinds.add("RoPE frequency buffers (recomputed)");
                } else {
                    byPrefix.computeIfAbsent(name.substring(0, at), k -> new LinkedHashMap<>()).put(name.substring(at + NAMESPACE.length()), e.getValue());
                }
            }
            for (Map.Entry<String, Map<String, CheckpointTensor>> e : byPrefix.entrySet()) out.add(new Producer(e.getKey(), e.getValue()));
        }
        if (out.isEmpty()) throw new UserError(where + ": no tensor under '" + NAMESPACE + "' in any state dict");
        if (ignored > 0) notes.add("ignored " + ignored + " tensors outside the predictor: " + String.join(", ", ignoredKinds));
        return out;
    }

    private static int layerOf(String prefix) {
        Matcher m = LAYER.matcher(prefix);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    // ------------------------------------------------------------------------------------------------ v1

    private static final List<String> V1_REQUIRED = List.of("input_proj.weight", "q_proj_attn.weight", "k_proj_attn.weight", "v_proj_attn.weight",
            "norm1.weight", "norm1.bias", "ffn.0.weight", "ffn.0.bias", "ffn.2.weight", "ffn.2.bias",
            "q_proj_importance.0.weight", "q_proj_importance.2.weight", "k_proj_importance.0.weight", "k_proj_importance.2.weight");
    private static final List<String> V1_OPTIONAL = List.of("norm2.weight", "norm2.bias", "norm_importance.weight", "norm_importance.bias");

    private static Result mapV1(String where, List<Producer> producers, ModelConfig m, ModelFingerprint fp, Options o, List<String> notes) {
        if (producers.size() != 1) {
            throw new UserError(where + ": a v1 predictor has one producer (at layer 0, predicting every layer); found " + producers.size()
                    + " (" + producers.stream().map(p -> p.prefix().isEmpty() ? "<bare>" : p.prefix()).toList() + ")");
        }
        if (o.meanKeyHeads()) throw new UserError(where + ": --mean-key-heads is for v2 checkpoints; this one is v1");
        Map<String, CheckpointTensor> t = producers.getFirst().tensors();
        requireNames(where, t, V1_REQUIRED, V1_OPTIONAL);
        int e = m.dim(), layers = m.nLayers(), heads = m.nHeads();
        int p = dim(where, t, "input_proj.weight", 0), hidden = dim(where, t, "q_proj_importance.0.weight", 0);
        int rows = dim(where, t, "q_proj_importance.2.weight", 0);
        if (rows <= 0 || rows % (layers * heads) != 0) {
            throw new UserError(where + ": tensor '" + NAMESPACE + "q_proj_importance.2.weight' has " + rows + " rows; for this model it needs "
                    + layers + " layers * " + heads + " heads * d' (the authors' v1 predicts every layer from layer 0)");
        }
        int dPrime = rows / (layers * heads);
        check(where, "d'", "d-prime", o.dPrime(), dPrime);
        check(where, "importance hidden length I", "importance-hidden", o.importanceHidden(), hidden);
        shape(where, t, "input_proj.weight", p, e);
        for (String n : List.of("q_proj_attn.weight", "k_proj_attn.weight", "v_proj_attn.weight")) shape(where, t, n, p, p);
        shape(where, t, "norm1.weight", p);
        shape(where, t, "norm1.bias", p);
        shape(where, t, "ffn.0.weight", 2L * p, p);
        shape(where, t, "ffn.0.bias", 2L * p);
        shape(where, t, "ffn.2.weight", e, 2L * p);
        shape(where, t, "ffn.2.bias", e);
        for (String n : List.of("q_proj_importance", "k_proj_importance")) {
            shape(where, t, n + ".0.weight", hidden, e);
            shape(where, t, n + ".2.weight", layers * heads * dPrime, hidden);
        }
        boolean norm2 = t.containsKey("norm2.weight"), normImportance = t.containsKey("norm_importance.weight");
        for (String n : List.of("norm2", "norm_importance")) {
            if (t.containsKey(n + ".weight") != t.containsKey(n + ".bias")) {
                throw new UserError(where + ": tensor '" + NAMESPACE + n + (t.containsKey(n + ".weight") ? ".bias" : ".weight") + "' is missing (its "
                        + (t.containsKey(n + ".weight") ? "weight" : "bias") + " is there)");
            }
            if (t.containsKey(n + ".weight")) {
                shape(where, t, n + ".weight", e);
                shape(where, t, n + ".bias", e);
            }
        }
        boolean residualNorm = norm2 && !o.ignoreNorm2();
        String layout;
        if (norm2 && o.ignoreNorm2()) notes.add("norm2 is in the checkpoint but not applied (--ignore-norm2: the February 2025 code defined it without using it)");
        RopeScaling scaling = switch (o.rope() == null ? "auto" : o.rope()) {
            case "auto" -> norm2 || normImportance ? RopeScaling.AUTHORS_LLAMA3 : null;
            case "llama3" -> RopeScaling.AUTHORS_LLAMA3;
            case "plain" -> null;
            default -> throw new UserError("import-butler: option --predictor-rope must be auto, llama3 or plain, got '" + o.rope() + "'");
        };
        layout = "authors' v1 (TokenImportancePredictorAttentive" + (residualNorm ? ", norm2 after the residual" : "")
                + (normImportance ? ", norm_importance" : "") + ", RoPE " + (scaling == null ? "unscaled" : "llama3-scaled") + ")";
        if (norm2) {
            float[] w = t.get("norm2.weight").toFloats(where), b = t.get("norm2.bias").toFloats(where);
            boolean untouched = true;
            for (int i = 0; i < e && untouched; i++) untouched = w[i] == 1f && b[i] == 0f;
            if (untouched && residualNorm) {
                notes.add("warning: norm2 is exactly its initial weight 1 and bias 0, as if it was never trained; if the checkpoint comes from code that "
                        + "defined norm2 without applying it, import again with --ignore-norm2");
            }
        }
        int attnHeads = o.attnHeads() > 0 ? o.attnHeads() : heads;
        PredictorConfig c = new PredictorConfig(e, layers, heads, m.nKvHeads(), m.headSize(), m.vocabSize(), p, attnHeads, 2 * p, hidden, dPrime,
                m.ropeTheta(), PredictorConfig.DEFAULT_LAYER_NORM_EPS, fp.vocabularyHash())
                .withExtensions(residualNorm, normImportance, scaling).validate(where);
        Map<String, float[]> w = new LinkedHashMap<>();
        w.put(PredictorFormat.INPUT_PROJ, t.get("input_proj.weight").toFloats(where));
        w.put(PredictorFormat.ATTN_Q, t.get("q_proj_attn.weight").toFloats(where));
        w.put(PredictorFormat.ATTN_K, t.get("k_proj_attn.weight").toFloats(where));
        w.put(PredictorFormat.ATTN_V, t.get("v_proj_attn.weight").toFloats(where));
        w.put(PredictorFormat.ATTN_NORM_WEIGHT, t.get("norm1.weight").toFloats(where));
        w.put(PredictorFormat.ATTN_NORM_BIAS, t.get("norm1.bias").toFloats(where));
        w.put(PredictorFormat.FFN_UP, t.get("ffn.0.weight").toFloats(where));
        w.put(PredictorFormat.FFN_UP_BIAS, t.get("ffn.0.bias").toFloats(where));
        w.put(PredictorFormat.FFN_DOWN, t.get("ffn.2.weight").toFloats(where));
        w.put(PredictorFormat.FFN_DOWN_BIAS, t.get("ffn.2.bias").toFloats(where));
        w.put(PredictorFormat.Q_IMPORTANCE_UP, t.get("q_proj_importance.0.weight").toFloats(where));
        w.put(PredictorFormat.Q_IMPORTANCE_DOWN, regroupV1(t.get("q_proj_importance.2.weight").toFloats(where), layers, heads, dPrime, hidden));
        w.put(PredictorFormat.K_IMPORTANCE_UP, t.get("k_proj_importance.0.weight").toFloats(where));
        w.put(PredictorFormat.K_IMPORTANCE_DOWN, regroupV1(t.get("k_proj_importance.2.weight").toFloats(where), layers, heads, dPrime, hidden));
        if (residualNorm) {
            w.put(PredictorFormat.RESIDUAL_NORM_WEIGHT, t.get("norm2.weight").toFloats(where));
            w.put(PredictorFormat.RESIDUAL_NORM_BIAS, t.get("norm2.bias").toFloats(where));
        }
        if (normImportance) {
            w.put(PredictorFormat.IMPORTANCE_NORM_WEIGHT, t.get("norm_importance.weight").toFloats(where));
            w.put(PredictorFormat.IMPORTANCE_NORM_BIAS, t.get("norm_importance.bias").toFloats(where));
        }
        notes.add("output blocks of q/k_proj_importance.2 regrouped: our (layer l, head h) = their block h*" + layers + " + l");
        return new V1(c, new PredictorWeights(c, w), notes, layout);
    }

    /** Rows of an [L*H*d'][I] weight: our block l*H + h takes their block h*L + l. */
    static float[] regroupV1(float[] theirs, int layers, int heads, int dPrime, int in) {
        float[] ours = new float[theirs.length];
        int block = dPrime * in;
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) System.arraycopy(theirs, (h * layers + l) * block, ours, (l * heads + h) * block, block);
        }
        return ours;
    }

    // ------------------------------------------------------------------------------------------------ v2

    private static final List<String> V2_REQUIRED = List.of("norm_importance.weight", "norm_importance.bias", "q_mlps.0.0.weight",
            "q_mlps.0.2.weight", "key_cache_proj");

    private static Result mapV2(String where, List<Producer> producers, ModelConfig m, ModelFingerprint fp, Options o, List<String> notes) {
        if (o.attnHeads() != 0 || o.rope() != null || o.ignoreNorm2()) {
            throw new UserError(where + ": --heads, --predictor-rope and --ignore-norm2 are for v1 checkpoints; this one is v2 (no attention block, no RoPE)");
        }
        for (int i = 0; i < producers.size(); i++) {
            Producer p = producers.get(i);
            if (!p.tensors().containsKey("key_cache_proj")) {
                throw new UserError(where + ": producer " + i + " has q_mlps but no " + NAMESPACE + "key_cache_proj: not the v2 architecture we import "
                        + "(the authors' 'tokenbutler_project': queries from producers, keys projected from the model's K cache); "
                        + "the 'tokenbutler_slice' variant and incomplete files are not supported");
            }
            requireNames(where + ", producer " + i, p.tensors(), V2_REQUIRED, List.of());
        }
        int e = m.dim(), layers = m.nLayers(), heads = m.nHeads(), kvHeads = m.nKvHeads(), hs = m.headSize();
        Map<String, CheckpointTensor> first = producers.getFirst().tensors();
        CheckpointTensor proj = first.get("key_cache_proj");
        if (proj.shape().length != 4) throw new UserError(where + ": tensor '" + NAMESPACE + "key_cache_proj' should have 4 dimensions [layers, heads, head size, d'], has " + proj.shapeText());
        int dPrime = dim(where, first, "key_cache_proj", 3), keyHeads = dim(where, first, "key_cache_proj", 1);
        if (dPrime <= 0 || keyHeads <= 0) {
            throw new UserError(where + ": tensor '" + NAMESPACE + "key_cache_proj' has shape " + proj.shapeText()
                    + "; expected [layers, heads, head size, d'] with at least one head and d' >= 1");
        }
        int hidden = dim(where, first, "q_mlps.0.0.weight", 0), out = dim(where, first, "q_mlps.0.2.weight", 0);
        if (out <= 0 || out % ((long) heads * dPrime) != 0) {
            throw new UserError(where + ": tensor '" + NAMESPACE + "q_mlps.0.2.weight' has " + out + " rows, not a multiple of " + heads + " heads * d' " + dPrime);
        }
        int spacing = (int) (out / ((long) heads * dPrime));
        check(where, "d'", "d-prime", o.dPrime(), dPrime);
        check(where, "importance hidden length I", "importance-hidden", o.importanceHidden(), hidden);
        check(where, "producer spacing G", "spacing", o.spacing(), spacing);
        if (keyHeads != kvHeads && keyHeads != heads) {
            throw new UserError(where + ": tensor '" + NAMESPACE + "key_cache_proj' has " + keyHeads + " heads; the model has " + heads + " query heads and "
                    + kvHeads + " KV heads");
        }
        if (keyHeads == heads && heads != kvHeads && !o.meanKeyHeads()) {
            throw new UserError(where + ": key_cache_proj has one projection per query head (" + heads + "), ours one per KV head (" + kvHeads
                    + "); give --mean-key-heads to average each KV group's projections, as the authors' own inference loader does "
                    + "(the logits then differ from their per-head training-time ones)");
        }
        int expected = (layers + spacing - 1) / spacing;
        if (producers.size() != expected) {
            throw new UserError(where + ": " + producers.size() + " producer state dicts; a spacing of " + spacing + " over " + layers + " layers needs "
                    + expected + " (producers at layers 0, " + spacing + ", ...)");
        }
        for (int i = 0; i < producers.size(); i++) {
            Map<String, CheckpointTensor> t = producers.get(i).tensors();
            String w = where + ", producer " + i;
            shape(w, t, "norm_importance.weight", e);
            shape(w, t, "norm_importance.bias", e);
            shape(w, t, "q_mlps.0.0.weight", hidden, e);
            shape(w, t, "q_mlps.0.2.weight", spacing * heads * dPrime, hidden);
            shape(w, t, "key_cache_proj", layers, keyHeads, hs, dPrime);
        }
        RevisedPredictorConfig c = new RevisedPredictorConfig(e, layers, heads, kvHeads, hs, m.vocabSize(), dPrime, hidden, spacing, false,
                m.ropeTheta(), PredictorConfig.DEFAULT_LAYER_NORM_EPS, fp.vocabularyHash()).withConsumerOffset(1).validate(where);
        Map<String, float[]> w = new LinkedHashMap<>();
        for (int p = 0; p < producers.size(); p++) {
            Map<String, CheckpointTensor> t = producers.get(p).tensors();
            w.put(PredictorFormat.producerNormWeight(p), t.get("norm_importance.weight").toFloats(where));
            w.put(PredictorFormat.producerNormBias(p), t.get("norm_importance.bias").toFloats(where));
            w.put(PredictorFormat.producerUp(p), t.get("q_mlps.0.0.weight").toFloats(where));
            w.put(PredictorFormat.producerUpBias(p), new float[hidden]);
            w.put(PredictorFormat.producerDown(p), t.get("q_mlps.0.2.weight").toFloats(where));
            w.put(PredictorFormat.producerDownBias(p), new float[spacing * heads * dPrime]);
        }
        float[][] projections = new float[producers.size()][];
        for (int l = 0; l < layers; l++) {
            int p = l == 0 ? 0 : (l - 1) / spacing;
            if (projections[p] == null) projections[p] = producers.get(p).tensors().get("key_cache_proj").toFloats(where);
            w.put(PredictorFormat.keyProjection(l), keyProjection(projections[p], l, keyHeads, kvHeads, hs, dPrime));
        }
        notes.add("layer l >= 1 reads producer (l-1)/" + spacing + ", slot (l-1) mod " + spacing + " (consumer offset 1); layer l's key projection from that producer");
        if (keyHeads == heads && heads != kvHeads) notes.add("key_cache_proj averaged over each KV group's " + heads / kvHeads + " query heads (--mean-key-heads)");
        notes.add("producer linears have no biases in the checkpoint: ours are zero");
        String layout = "authors' v2 (tokenbutler_project, " + producers.size() + " producers every " + spacing + " layers, key_cache_proj per "
                + (keyHeads == kvHeads ? "KV head" : "query head, averaged per KV group") + ")";
        return new V2(c, new RevisedPredictorWeights(c, w), notes, layout);
    }

    /** Our [H_kv*d'][head size] projection of layer l from their [L][keyHeads][head size][d'] (row kv*d' + j, column k = theirs [l][kv][k][j]). */
    static float[] keyProjection(float[] theirs, int l, int keyHeads, int kvHeads, int hs, int dPrime) {
        float[] ours = new float[kvHeads * dPrime * hs];
        int group = keyHeads / kvHeads;
        for (int kv = 0; kv < kvHeads; kv++) {
            for (int g = 0; g < group; g++) {
                int head = kv * group + g;
                for (int k = 0; k < hs; k++) {
                    for (int j = 0; j < dPrime; j++) {
                        ours[(kv * dPrime + j) * hs + k] += theirs[((l * keyHeads + head) * hs + k) * dPrime + j] / group;
                    }
                }
            }
        }
        return ours;
    }

    // ------------------------------------------------------------------------------------------------ checks

    private static void requireNames(String where, Map<String, CheckpointTensor> t, List<String> required, List<String> optional) {
        List<String> missing = required.stream().filter(n -> !t.containsKey(n)).toList();
        if (!missing.isEmpty()) {
            throw new UserError(where + ": missing predictor tensor" + (missing.size() > 1 ? "s " : " ") + missing.stream().map(n -> "'" + NAMESPACE + n + "'").toList()
                    + " (found " + sample(t.keySet()) + ")");
        }
        List<String> extra = t.keySet().stream().filter(n -> !required.contains(n) && !optional.contains(n)).toList();
        if (!extra.isEmpty()) {
            throw new UserError(where + ": predictor tensor" + (extra.size() > 1 ? "s " : " ") + extra.stream().map(n -> "'" + NAMESPACE + n + "'").toList()
                    + " not part of the architecture this importer knows (expected " + required + (optional.isEmpty() ? "" : " and optionally " + optional)
                    + "); refusing rather than dropping weights the predictor may use");
        }
    }

    /** Dimension d of a tensor (-1 when it has fewer); one that no int holds is refused, not wrapped. */
    private static int dim(String where, Map<String, CheckpointTensor> t, String name, int d) {
        CheckpointTensor x = t.get(name);
        long[] s = x.shape();
        if (d >= s.length) return -1;
        if (s[d] > Integer.MAX_VALUE) {
            throw new UserError(where + ": tensor '" + NAMESPACE + name + "' has shape " + x.shapeText() + "; expected dimensions below 2^31");
        }
        return (int) s[d];
    }

    private static void shape(String where, Map<String, CheckpointTensor> t, String name, long... expected) {
        CheckpointTensor x = t.get(name);
        if (!Arrays.equals(x.shape(), expected)) {
            throw new UserError(where + ": tensor '" + NAMESPACE + name + "' has shape " + x.shapeText() + ", the model given needs "
                    + Arrays.toString(expected) + " (is the checkpoint for another model?)");
        }
    }

    /** The published defaults the options start from: d' 16, I 512, G 4 (the authors' training defaults and model card). */
    public static final int PUBLISHED_D_PRIME = 16, PUBLISHED_IMPORTANCE_HIDDEN = 512, PUBLISHED_SPACING = 4;

    /**
     * A hyper-parameter the checkpoint does not record: the option (or its published default) must be what the
     * shapes give for the model, so that a checkpoint for another model whose sizes happen to divide is caught.
     */
    private static void check(String where, String what, String option, int value, int found) {
        if (value != found) {
            throw new UserError(where + ": " + what + " is " + found + " in the checkpoint's shapes for the model given, but --" + option + " is "
                    + value + " (the published default when not given); give --" + option + " " + found + " if the checkpoint belongs to this model");
        }
    }

    private static String sample(Set<String> names) {
        List<String> l = new ArrayList<>(names);
        return l.size() <= 6 ? l.toString() : l.subList(0, 6) + " and " + (l.size() - 6) + " more";
    }
}
