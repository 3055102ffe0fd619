package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.selection.BudgetRule;
import io.github.tokenbutler.plugin.selection.QuestPages;
import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The options of a sparse attention hook (--attention-opt KEY=VALUE), checked. plugin/POLICIES.md documents
 * each one. Every policy accepts every key (the harness passes one option set to all of them); a key only some
 * policies read is ignored by the others.
 *
 * @param recordLayer -1 when nothing is recorded
 * @param keyPrecision null for the predictor's default
 * @param threads 0: the runtime's thread pool (the default); 1: the calling thread only; N: a pool of N threads of our own
 * @param backend auto, cpu or opencl; null: the system property tokenbutler.backend, else cpu (see {@link AttentionBackends})
 * @param device  the offload device, an index or a name substring; null: the backend's choice
 * @param mirror  how an offload device stores its copy of the K/V caches: F32 (default; results match the CPU to
 *                float rounding) or F16 (half the device memory, upload and gather traffic)
 */
public record AttentionOptions(SelectionPolicy policy, BudgetRule budget, boolean perKvHead, long seed, Path predictor,
                               KeyPrecision keyPrecision, boolean measure, int recordLayer, int recordHead, int threads,
                               double recent, int pageSize, String backend, String device, KeyPrecision mirror) {

    public static final double DEFAULT_SPARSITY = 0.5;
    public static final int DEFAULT_SINKS = 4, DEFAULT_WINDOW = 0;
    public static final double DEFAULT_RECENT = 0.5;
    /** Keys in the order POLICIES.md lists them. */
    public static final List<String> KEYS = List.of("sparsity", "budget", "sinks", "window", "gqa", "predictor", "keys",
            "seed", "recent", "page", "measure", "record", "threads", "backend", "device", "mirror");
    // Large enough for any context, small enough that arithmetic on positions cannot overflow.
    private static final int MAX_COUNT = 1 << 28;

    /** Parses and checks the options of hook {@code policy} for a model of the given shape. */
    public static AttentionOptions parse(SelectionPolicy policy, Map<String, String> options, ModelConfig config) {
        String hook = policy.hookName;
        for (Map.Entry<String, String> e : options.entrySet()) {
            if (!KEYS.contains(e.getKey())) {
                throw new UserError("attention " + hook + ": unknown option '" + e.getKey() + "' (expected one of "
                        + String.join(", ", KEYS) + "), got '" + e.getKey() + "=" + e.getValue() + "'");
            }
        }
        if (options.containsKey("sparsity") && options.containsKey("budget")) {
            throw new UserError("attention " + hook + ": options 'sparsity' and 'budget' exclude each other (expected one of them),"
                    + " got sparsity=" + options.get("sparsity") + " and budget=" + options.get("budget"));
        }
        double sparsity = options.containsKey("sparsity") ? sparsity(hook, options.get("sparsity")) : DEFAULT_SPARSITY;
        int budget = options.containsKey("budget") ? integer(hook, "budget", options.get("budget"), 1, MAX_COUNT) : 0;
        int sinks = options.containsKey("sinks") ? integer(hook, "sinks", options.get("sinks"), 0, MAX_COUNT) : DEFAULT_SINKS;
        int window = options.containsKey("window") ? integer(hook, "window", options.get("window"), 0, MAX_COUNT) : DEFAULT_WINDOW;

        boolean perKvHead = false;
        if (options.containsKey("gqa")) {
            String v = options.get("gqa").trim().toLowerCase(Locale.ROOT);
            if (v.equals("kv")) perKvHead = true;
            else if (!v.equals("head")) throw expected(hook, "gqa", "'head' (one selection per query head) or 'kv' (one per KV head)", options.get("gqa"));
        }

        long seed = 0;
        if (options.containsKey("seed")) {
            try {
                seed = Long.parseLong(options.get("seed").trim());
            } catch (NumberFormatException e) {
                throw expected(hook, "seed", "an integer", options.get("seed"));
            }
        }

        Path predictor = null;
        if (options.containsKey("predictor")) {
            String v = options.get("predictor").trim();
            if (v.isEmpty()) throw expected(hook, "predictor", "the path of a TokenButler predictor .gguf", options.get("predictor"));
            predictor = Path.of(v);
        }
        if (policy == SelectionPolicy.TOKENBUTLER && predictor == null) {
            throw new UserError("attention " + hook + ": option 'predictor' is required (expected the path of a TokenButler"
                    + " predictor .gguf trained for this model, e.g. --attention-opt predictor=M.butler.gguf), got none");
        }
        KeyPrecision keyPrecision = null;
        if (options.containsKey("keys")) {
            String v = options.get("keys");
            try {
                keyPrecision = KeyPrecision.parse("keys", v);
            } catch (UserError e) {
                throw expected(hook, "keys", "f32, f16, q8 or q4 (how the predictor stores importance keys)", v);
            }
        }

        double recent = options.containsKey("recent") ? fraction(hook, "recent", options.get("recent")) : DEFAULT_RECENT;
        int pageSize = options.containsKey("page") ? integer(hook, "page", options.get("page"), 1, 1 << 16) : QuestPages.DEFAULT_PAGE_SIZE;

        boolean measure = false;
        if (options.containsKey("measure")) {
            String v = options.get("measure").trim().toLowerCase(Locale.ROOT);
            if (v.equals("true")) measure = true;
            else if (!v.equals("false")) throw expected(hook, "measure", "true or false", options.get("measure"));
        }

        int recordLayer = -1, recordHead = -1;
        if (options.containsKey("record")) {
            String v = options.get("record").trim();
            String what = "LAYER:HEAD with layer 0.." + (config.nLayers() - 1) + " and head 0.." + (config.nHeads() - 1);
            int colon = v.indexOf(':');
            if (colon < 0) throw expected(hook, "record", what, options.get("record"));
            try {
                recordLayer = Integer.parseInt(v.substring(0, colon).trim());
                recordHead = Integer.parseInt(v.substring(colon + 1).trim());
            } catch (NumberFormatException e) {
                throw expected(hook, "record", what, options.get("record"));
            }
            if (recordLayer < 0 || recordLayer >= config.nLayers() || recordHead < 0 || recordHead >= config.nHeads()) {
                throw expected(hook, "record", what, options.get("record"));
            }
        }

        int threads = options.containsKey("threads") ? integer(hook, "threads", options.get("threads"), 1, 256) : 0;

        String backend = null;
        if (options.containsKey("backend")) {
            backend = options.get("backend").trim().toLowerCase(Locale.ROOT);
            if (!List.of("auto", "cpu", "opencl").contains(backend)) {
                throw expected(hook, "backend", "auto (a GPU if there is one, else the CPU), cpu or opencl", options.get("backend"));
            }
        }
        String device = null;
        if (options.containsKey("device")) {
            device = options.get("device").trim();
            if (device.isEmpty()) throw expected(hook, "device", "a device index or a part of its name (./tokenbutler devices lists them)", options.get("device"));
        }

        KeyPrecision mirror = KeyPrecision.F32;
        if (options.containsKey("mirror")) {
            String v = options.get("mirror");
            String what = "f32 or f16 (how an OpenCL device stores its copy of the K/V caches)";
            try {
                mirror = KeyPrecision.parse("mirror", v);
            } catch (UserError e) {
                throw expected(hook, "mirror", what, v);
            }
            if (mirror == KeyPrecision.Q8 || mirror == KeyPrecision.Q4) throw expected(hook, "mirror", what, v);
        }

        return new AttentionOptions(policy, new BudgetRule(sparsity, budget, sinks, window), perKvHead, seed, predictor,
                keyPrecision, measure, recordLayer, recordHead, threads, recent, pageSize, backend, device, mirror);
    }

    private static UserError expected(String hook, String key, String expected, String actual) {
        return new UserError("attention " + hook + ": option '" + key + "' expects " + expected + ", got '" + actual + "'");
    }

    private static double fraction(String hook, String key, String value) {
        double v;
        try {
            v = Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw expected(hook, key, "a number from 0 to 1", value);
        }
        if (!(v >= 0 && v <= 1)) throw expected(hook, key, "a number from 0 to 1", value);
        return v;
    }

    /**
     * The fraction of visible tokens skipped, in [0, 1): 0 attends every position (equal to dense), and 1, which
     * would keep the sinks and window alone, is refused as eval refuses it (that is the streaming policy).
     */
    private static double sparsity(String hook, String value) {
        String what = "a number from 0 (every position) up to but not including 1 (only sinks and window: use the streaming policy)";
        double v;
        try {
            v = Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw expected(hook, "sparsity", what, value);
        }
        if (!(v >= 0 && v < 1)) throw expected(hook, "sparsity", what, value);
        return v;
    }

    private static int integer(String hook, String key, String value, int min, int max) {
        long v;
        try {
            v = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw expected(hook, key, "an integer from " + min + " to " + max, value);
        }
        if (v < min || v > max) throw expected(hook, key, "an integer from " + min + " to " + max, value);
        return (int) v;
    }
}
