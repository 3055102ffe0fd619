package io.github.tokenbutler.eval;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The selection policies the harness knows how to measure, and the attention options it gives them.
 * Names are checked here, before the model is loaded, so a typo costs nothing; each name is the
 * attention hook of the same name (dense built into the runtime, the others registered by the plugin).
 */
public final class Policies {
    private Policies() {}

    public static final String DENSE = "dense";
    public static final String TOKENBUTLER = "tokenbutler";

    /**
     * The policies the harness can measure: the attention hooks on the class path (dense, built into the
     * runtime, first; then the plugin's in the order of its ServiceLoader file), in the order results are
     * reported. A policy class added to the plugin shows up here without a change to the harness.
     */
    public static final Set<String> KNOWN = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(Llama3.attentionHooks().keySet()));

    /** Options the harness sets itself; --attention-opt may not override them. */
    static final Set<String> RESERVED_OPTIONS = Set.of("sparsity", "budget", "measure", "record", "predictor");

    /** The default policy list: every known policy, tokenbutler only when a predictor was given. */
    public static List<String> defaults(boolean havePredictor) {
        List<String> out = new ArrayList<>();
        for (String p : KNOWN) if (havePredictor || !p.equals(TOKENBUTLER)) out.add(p);
        return out;
    }

    /**
     * Checks a --policies list: every name known, no duplicates, tokenbutler only with a predictor.
     * @return the sparse policies in the given order (dense removed: it always runs once, as the reference)
     */
    public static List<String> validate(String command, List<String> names, boolean havePredictor) {
        Set<String> seen = new LinkedHashSet<>();
        for (String raw : names) {
            String name = raw.toLowerCase(Locale.ROOT);
            if (!KNOWN.contains(name)) {
                throw new UserError(command + ": unknown policy '" + raw + "' in --policies; known policies: "
                        + String.join(", ", KNOWN));
            }
            if (!seen.add(name)) throw new UserError(command + ": policy '" + name + "' is listed twice in --policies");
        }
        if (seen.contains(TOKENBUTLER) && !havePredictor) {
            throw new UserError(command + ": policy tokenbutler needs --predictor PATH (the TokenButler predictor .gguf"
                    + " trained for this model), got no --predictor");
        }
        List<String> sparse = new ArrayList<>(seen);
        sparse.remove(DENSE);
        return sparse;
    }

    /**
     * Parses a --sparsity list: each value a fraction of the visible past tokens NOT attended, 0 < s < 1,
     * no duplicates.
     */
    public static List<Double> sparsities(String command, String option, List<String> values) {
        List<Double> out = new ArrayList<>();
        for (String v : values) {
            double s;
            try {
                s = Double.parseDouble(v.trim());
            } catch (NumberFormatException e) {
                throw new UserError(command + ": option --" + option + " expects numbers between 0 and 1 (exclusive),"
                        + " e.g. 0.25,0.5,0.75; got '" + v + "'");
            }
            if (!(s > 0 && s < 1)) {
                throw new UserError(command + ": option --" + option + " values must be between 0 and 1 (exclusive:"
                        + " 0 is the dense row, 1 would keep only sinks and window: the streaming policy), got " + v);
            }
            if (out.contains(s)) throw new UserError(command + ": option --" + option + " lists " + v + " twice");
            out.add(s);
        }
        return out;
    }

    /**
     * Parses repeated --attention-opt KEY=VALUE strings (extra options for every sparse policy, e.g.
     * sinks=4, window=16, gqa=kv); the options the harness sets itself are refused.
     */
    public static Map<String, String> extraOptions(String command, List<String> keyValues) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String kv : keyValues) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new UserError(command + ": --attention-opt expects KEY=VALUE, got '" + kv + "'");
            String key = kv.substring(0, eq).trim(), value = kv.substring(eq + 1).trim();
            if (RESERVED_OPTIONS.contains(key)) {
                throw new UserError(command + ": --attention-opt " + key + " is set by the harness itself (options it sets: "
                        + String.join(", ", new java.util.TreeSet<>(RESERVED_OPTIONS)) + "); use --sparsity, --predictor or --viz-* instead");
            }
            out.put(key, value);
        }
        return out;
    }

    /** The attention options of one sparse run. record is "LAYER:HEAD" or null. */
    public static Map<String, String> options(String policy, double sparsity, Path predictor, Map<String, String> extra,
                                              boolean measure, String record) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("sparsity", formatSparsity(sparsity));
        if (policy.equals(TOKENBUTLER)) o.put("predictor", predictor.toString());
        o.putAll(extra);
        if (measure) o.put("measure", "true");
        if (record != null) o.put("record", record);
        return o;
    }

    /** A sparsity as a percentage without float noise: 0.3 gives "30", 0.125 gives "12.5". */
    public static String formatPercent(double s) {
        return java.math.BigDecimal.valueOf(s).movePointRight(2).stripTrailingZeros().toPlainString();
    }

    /** Shortest decimal form (0.5, 0.25): what the user typed, for options, tables and file names. */
    public static String formatSparsity(double s) {
        return java.math.BigDecimal.valueOf(s).stripTrailingZeros().toPlainString();
    }
}
