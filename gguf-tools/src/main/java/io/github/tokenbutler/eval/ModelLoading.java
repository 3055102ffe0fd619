package io.github.tokenbutler.eval;

import io.github.tokenbutler.plugin.hook.AttentionOptions;
import io.github.tokenbutler.plugin.hook.SparseAttentionHook;
import io.github.tokenbutler.plugin.predictor.Predictor;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Loads the model once for a whole evaluation, with the context the chunks need. */
final class ModelLoading {
    private ModelLoading() {}

    /**
     * The context the model file declares ({@code ARCH.context_length}), or -1 when it declares none. Read
     * from the metadata only, before anything is loaded.
     */
    static int declaredContext(Path path) {
        try (GGUF g = GGUF.read(path)) {
            Object arch = g.metadata().get("general.architecture");
            String key = (arch instanceof String a ? a : "llama") + ".context_length";
            long v = g.getLong(key, -1);
            return v > 0 && v <= Integer.MAX_VALUE ? (int) v : -1;
        }
    }

    /**
     * Refuses a --context beyond the context the file declares: the runtime would accept it (an explicit
     * context overrides the metadata, as in llama.cpp), but positions past what the model was built for
     * give numbers that mean nothing. --force-ctx is for files that under-declare: llama.cpp's
     * convert-llama2c writes 128 whatever the checkpoint was trained with (stories260K was trained at 512).
     */
    static void checkDeclaredContext(String command, Path path, int ctx, boolean force) {
        int declared = declaredContext(path);
        if (declared > 0 && ctx > declared && !force) {
            throw new UserError(command + ": --context " + ctx + " is larger than the model's context: " + path.getFileName()
                    + " declares a context of " + declared + " tokens (llama.context_length); use --context " + declared
                    + " or less, or add --force-ctx if the file under-declares the context its model was trained with"
                    + " (llama.cpp's convert-llama2c writes 128 whatever the training length was)");
        }
    }

    /**
     * Loads a model with a context of ctx tokens. The runtime refuses a context the model cannot take; a
     * model that comes back with a shorter context than asked for is refused here, naming both numbers.
     */
    static Model load(String command, Path path, int ctx) { return load(command, path, ctx, KvType.F32, KvType.F32); }

    /** {@link #load(String, Path, int)} with the KV cache types of every state made from the model. */
    static Model load(String command, Path path, int ctx, KvType keyType, KvType valueType) {
        Model model = Model.load(path, new LoadOptions(ctx, keyType, valueType));
        try {
            int context = model.config().contextLength();
            if (context < ctx) {
                throw new UserError(command + ": --context " + ctx + " is larger than the model's context: " + path.getFileName()
                        + " holds at most " + context + " tokens; use --context " + context + " or less");
            }
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Loads the predictor once against the model, so that one made for another model is refused before the
     * dense and oracle runs rather than after them.
     */
    static void checkPredictor(Model model, Path predictor) {
        if (predictor != null) Predictor.load(predictor, model.info());
    }

    /**
     * Parses every policy's attention options against the model now, so that a bad --attention-opt is refused
     * before the dense run rather than after it.
     */
    static void checkOptions(Model model, List<String> policies, List<Double> sparsities, Path predictor, Map<String, String> extra) {
        Map<String, AttentionHook> hooks = Llama3.attentionHooks();
        for (String policy : policies) {
            if (!(hooks.get(policy) instanceof SparseAttentionHook hook)) continue;
            for (double sparsity : sparsities) {
                AttentionOptions.parse(hook.policy(), Policies.options(policy, sparsity, predictor, extra, true, null), model.config());
            }
        }
    }

    /** The name results are filed under: the model file's name without ".gguf". */
    static String modelName(Path path) {
        String n = path.getFileName().toString();
        return n.toLowerCase(java.util.Locale.ROOT).endsWith(".gguf") ? n.substring(0, n.length() - 5) : n;
    }

    /** Checks a --viz-layer / --viz-head pair against the loaded model (layer 0 is always dense). */
    static void checkHead(String command, Model model, int layer, int head) {
        int layers = model.config().nLayers(), heads = model.config().nHeads();
        if (layer < 1 || layer >= layers) {
            throw new UserError(command + ": --viz-layer must be a sparse layer, 1.." + (layers - 1) + " for this model"
                    + " (layer 0 is always dense), got " + layer);
        }
        if (head < 0 || head >= heads) {
            throw new UserError(command + ": --viz-head must be 0.." + (heads - 1) + " for this model (" + heads + " query heads), got " + head);
        }
    }
}
