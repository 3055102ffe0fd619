package io.github.tokenbutler.tools;

import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line options of a tools command: `--key value`, `--key=value`, boolean `--flag`, repeatable
 * options and positional arguments. Every accessor validates and fails with a {@link UserError} that
 * names the option, what was expected and what was given; {@link #finish()} rejects options nobody read.
 */
public final class Args {
    private final String command;
    private final Map<String, List<String>> options = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();
    private final Set<String> used = new LinkedHashSet<>();
    private final Set<String> flags;

    /**
     * @param flags names of options that take no value (without the leading dashes)
     */
    public Args(String command, String[] argv, Set<String> flags) {
        this.command = command;
        this.flags = flags;
        for (int i = 0; i < argv.length; i++) {
            String a = switch (argv[i]) { // llama.cpp's names; one name, --context, for the context in every command
                case "-ctk" -> "--cache-type-k";
                case "-ctv" -> "--cache-type-v";
                case "-c", "--ctx", "--ctx-size" -> "--context";
                default -> argv[i].startsWith("--ctx=") ? "--context=" + argv[i].substring(6)
                        : argv[i].startsWith("--ctx-size=") ? "--context=" + argv[i].substring(11) : argv[i];
            };
            if (a.startsWith("--") && a.length() > 2) {
                String key = a.substring(2), value;
                int eq = key.indexOf('=');
                if (eq == 0) throw new UserError(command + ": option '" + a + "' has no name before '='");
                if (eq > 0) {
                    value = key.substring(eq + 1);
                    key = key.substring(0, eq);
                } else if (flags.contains(key)) {
                    value = "true";
                } else {
                    // Missing at the end: kept as missing, so that finish() can say "unknown" for an option
                    // the command does not have, and the accessors "needs a value" for one it does.
                    value = i + 1 < argv.length ? argv[++i] : null;
                }
                options.computeIfAbsent(key, k -> new ArrayList<>()).add(value);
            } else {
                positional.add(a);
            }
        }
    }

    public String command() { return command; }

    public boolean has(String key) { used.add(key); return options.containsKey(key); }

    public boolean flag(String key) {
        used.add(key);
        List<String> v = options.get(key);
        if (v == null) return false;
        String last = v.getLast();
        if (last.equals("true")) return true;
        if (last.equals("false")) return false;
        throw new UserError(command + ": option --" + key + " is a flag (true/false), got '" + last + "'");
    }

    /** The last value of an option, or null. */
    public String string(String key) {
        used.add(key);
        List<String> v = options.get(key);
        if (v != null && v.getLast() == null) throw new UserError(command + ": option --" + key + " needs a value");
        return v == null ? null : v.getLast();
    }

    public String string(String key, String fallback) {
        String v = string(key);
        return v == null ? fallback : v;
    }

    public String requireString(String key) {
        String v = string(key);
        if (v == null) throw new UserError(command + ": option --" + key + " is required");
        return v;
    }

    public List<String> all(String key) {
        used.add(key);
        List<String> v = options.getOrDefault(key, List.of());
        if (v.stream().anyMatch(java.util.Objects::isNull)) throw new UserError(command + ": option --" + key + " needs a value");
        return v;
    }

    /** A comma-separated list option (e.g. --sparsity 0.25,0.5), or the fallback. */
    public List<String> list(String key, List<String> fallback) {
        String v = string(key);
        if (v == null) return fallback;
        List<String> out = new ArrayList<>();
        for (String s : v.split(",")) if (!s.isBlank()) out.add(s.trim());
        if (out.isEmpty()) throw new UserError(command + ": option --" + key + " expects a comma-separated list, got '" + v + "'");
        return out;
    }

    /** --KEY as a KV cache type (f32, f16, q8_0; --cache-type-k/-v also as llama.cpp's -ctk/-ctv), or fallback when not given. */
    public Llama3.KvType kvType(String key, Llama3.KvType fallback) {
        return has(key) ? Llama3.KvType.parse("--" + key, string(key)) : fallback;
    }

    public int integer(String key, int fallback, int min, int max) {
        String v = string(key);
        if (v == null) return fallback;
        long x;
        try {
            x = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UserError(command + ": option --" + key + " expects an integer from " + min + " to " + max + ", got '" + v + "'");
        }
        if (x < min || x > max) throw new UserError(command + ": option --" + key + " expects an integer from " + min + " to " + max + ", got " + v.trim());
        return (int) x;
    }

    public long longValue(String key, long fallback) {
        String v = string(key);
        if (v == null) return fallback;
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UserError(command + ": option --" + key + " expects an integer, got '" + v + "'");
        }
    }

    public double number(String key, double fallback, double min, double max) {
        String v = string(key);
        if (v == null) return fallback;
        return parseNumber(key, v, min, max);
    }

    public double parseNumber(String key, String v, double min, double max) {
        double x;
        try {
            x = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new UserError(command + ": option --" + key + " expects a number, got '" + v + "'");
        }
        if (!(x >= min && x <= max)) throw new UserError(command + ": option --" + key + " expects a number " + range(min, max) + ", got " + v);
        return x;
    }

    /** "from 0 to 1", "above 0", "of at least 2": the bounds as a person writes them (tiny and huge ones left out). */
    private static String range(double min, double max) {
        boolean lo = min > -1e30 && Math.abs(min) > 1e-30 || min == 0, hi = max < 1e30;
        String a = lo ? plain(min) : null, b = hi ? plain(max) : null;
        if (a != null && b != null) return "from " + a + " to " + b;
        if (a != null) return "of at least " + a;
        if (b != null) return "of at most " + b;
        return min > 0 ? "above 0" : "";
    }

    private static String plain(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** An option naming a file that must exist. */
    public Path existingFile(String key) {
        String v = requireString(key);
        return existing(key, v);
    }

    private Path existing(String what, String v) {
        return Llama3.requireReadableFile(Path.of(v), command + ": " + what + " file");
    }

    /**
     * Positional argument i naming a file to write, checked now (folder exists and is writable, not a folder
     * itself), before any long work.
     */
    public Path outputPositional(int i, String what) {
        Path p = Path.of(positional(i, what));
        AtomicFiles.checkWritable(command, "output", p);
        return p;
    }

    /** A required option naming a file to write, checked as {@link #outputPositional}. */
    public Path outputFile(String key) {
        Path p = Path.of(requireString(key));
        AtomicFiles.checkWritable(command, "--" + key, p);
        return p;
    }

    public List<String> positional() { return positional; }

    /** Positional argument i, which must exist (what names it in the message). */
    public String positional(int i, String what) {
        if (i >= positional.size()) throw new UserError(command + ": missing argument " + what);
        return positional.get(i);
    }

    public Path existingPositional(int i, String what) {
        return existing(what, positional(i, what));
    }

    /** Rejects unknown options and surplus positional arguments. Call after reading every option. */
    public void finish(int maxPositional) {
        for (String k : options.keySet()) {
            if (!used.contains(k)) throw new UserError(command + ": unknown option --" + k);
        }
        if (positional.size() > maxPositional) {
            throw new UserError(command + ": unexpected argument '" + positional.get(maxPositional) + "' (expected at most "
                    + maxPositional + " positional arguments, got " + positional.size() + ")");
        }
    }

    @Override public String toString() { return command + " " + options + " " + Arrays.toString(positional.toArray()); }
}
