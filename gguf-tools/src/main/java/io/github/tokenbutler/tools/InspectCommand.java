package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Array;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;

/** `inspect FILE [--json] [--all]`: a GGUF file's header, metadata and tensor table. */
public final class InspectCommand implements Command, Main.FlagOptions {
    /** Arrays longer than this show their first elements only, unless --all. */
    static final int ARRAY_PREVIEW = 8;

    @Override public String name() { return "inspect"; }

    @Override public String summary() { return "metadata and tensor table of a GGUF file"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler inspect FILE.gguf [--json] [--all]
                  --json   machine-readable output (one JSON object)
                  --all    print every element of long arrays (default: the first %d)
                """.formatted(ARRAY_PREVIEW);
    }

    @Override public Set<String> flags() { return Set.of("json", "all"); }

    @Override public int run(Args args) {
        boolean json = args.flag("json");
        boolean all = args.flag("all");
        args.finish(1);
        Path file = args.existingPositional(0, "FILE.gguf");
        try (GGUF g = GGUF.read(file)) {
            long fileSize = fileSize(file);
            if (json) System.out.println(json(g, fileSize, all));
            else text(g, fileSize, all, System.out);
        }
        return 0;
    }

    private static long fileSize(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw io.github.tokenbutler.runtime.Llama3.UserError.io("cannot read " + file, e);
        }
    }

    /** Tensor count, element count and bytes per type, in order of first appearance. */
    record TypeTotal(int tensors, long elements, long bytes) {}

    static Map<GGMLType, TypeTotal> totalsByType(GGUF g) {
        Map<GGMLType, TypeTotal> m = new LinkedHashMap<>();
        for (TensorInfo t : g.tensors().values()) {
            m.merge(t.type(), new TypeTotal(1, t.elements(), t.byteSize()),
                    (a, b) -> new TypeTotal(a.tensors() + b.tensors(), a.elements() + b.elements(), a.bytes() + b.bytes()));
        }
        return m;
    }

    static void text(GGUF g, long fileSize, boolean all, PrintStream out) {
        out.printf("file:      %s%n", g.path());
        out.printf("format:    GGUF v%d, %d metadata entries, %d tensors, alignment %d, data at byte %d, file %s%n",
                g.version(), g.metadata().size(), g.tensors().size(), g.alignment(), g.dataOffset(), human(fileSize));
        out.println();
        out.println("metadata:");
        int keyWidth = 0;
        for (String k : g.metadata().keySet()) keyWidth = Math.max(keyWidth, k.length());
        for (Map.Entry<String, Object> e : g.metadata().entrySet()) {
            String key = e.getKey();
            GGUFValueType type = g.valueTypes().get(key);
            String typeName = type == GGUFValueType.ARRAY
                    ? "ARRAY[" + g.arrayElementTypes().get(key) + "] (" + Array.getLength(e.getValue()) + ")"
                    : type.toString();
            // Keys and names straight from the file: control bytes escaped, so a damaged file cannot garble the terminal.
            out.printf("  %-" + keyWidth + "s  %-22s %s%n", Llama3.printable(key), typeName, textValue(type, g.arrayElementTypes().get(key), e.getValue(), all));
        }
        out.println();
        out.println("tensors:");
        int nameWidth = 4;
        for (String n : g.tensors().keySet()) nameWidth = Math.max(nameWidth, n.length());
        out.printf("  %-" + nameWidth + "s  %-6s  %-20s %14s %14s%n", "name", "type", "shape", "elements", "bytes");
        long elements = 0, bytes = 0;
        for (TensorInfo t : g.tensors().values()) {
            out.printf("  %-" + nameWidth + "s  %-6s  %-20s %14d %14d%n", Llama3.printable(t.name()), t.type(), shape(t.shape()), t.elements(), t.byteSize());
            elements += t.elements();
            bytes += t.byteSize();
        }
        out.println();
        out.printf("totals:    %d tensors, %d parameters (%s), %d bytes of tensor data (%s)%n",
                g.tensors().size(), elements, humanCount(elements), bytes, human(bytes));
        for (Map.Entry<GGMLType, TypeTotal> e : totalsByType(g).entrySet()) {
            TypeTotal t = e.getValue();
            out.printf("  %-6s %4d tensors %14d parameters %14d bytes%n", e.getKey(), t.tensors(), t.elements(), t.bytes());
        }
    }

    static String shape(long[] shape) {
        StringJoiner j = new StringJoiner(", ", "[", "]");
        for (long d : shape) j.add(Long.toString(d));
        return j.toString();
    }

    private static String textValue(GGUFValueType type, GGUFValueType elementType, Object value, boolean all) {
        if (type != GGUFValueType.ARRAY) return scalarText(type, value, true);
        int n = Array.getLength(value);
        int shown = all ? n : Math.min(n, ARRAY_PREVIEW);
        StringJoiner j = new StringJoiner(", ", "[", shown < n ? ", ... " + (n - shown) + " more]" : "]");
        for (int i = 0; i < shown; i++) {
            Object v = Array.get(value, i);
            j.add(elementType == GGUFValueType.ARRAY ? "[" + Array.getLength(v) + " elements]" : scalarText(elementType, v, true));
        }
        return j.toString();
    }

    /** A scalar as text: unsigned types by value, strings quoted with escapes. */
    static String scalarText(GGUFValueType type, Object v, boolean quoteStrings) {
        return switch (type) {
            case UINT8 -> Integer.toString(Byte.toUnsignedInt((Byte) v));
            case UINT16 -> Integer.toString(Short.toUnsignedInt((Short) v));
            case UINT32 -> Integer.toUnsignedString((Integer) v);
            case UINT64 -> Long.toUnsignedString((Long) v);
            case STRING -> quoteStrings ? jsonString((String) v) : (String) v;
            default -> String.valueOf(v);
        };
    }

    // --- JSON ----------------------------------------------------------------------------------------

    static String json(GGUF g, long fileSize, boolean all) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"file\":").append(jsonString(g.path().toString()))
                .append(",\"version\":").append(g.version())
                .append(",\"alignment\":").append(g.alignment())
                .append(",\"data_offset\":").append(g.dataOffset())
                .append(",\"file_size\":").append(fileSize)
                .append(",\"metadata\":{");
        boolean first = true;
        for (Map.Entry<String, Object> e : g.metadata().entrySet()) {
            if (!first) sb.append(',');
            first = false;
            String key = e.getKey();
            GGUFValueType type = g.valueTypes().get(key);
            sb.append(jsonString(key)).append(":{\"type\":\"").append(type).append('"');
            if (type == GGUFValueType.ARRAY) {
                GGUFValueType et = g.arrayElementTypes().get(key);
                int n = Array.getLength(e.getValue());
                int shown = all ? n : Math.min(n, ARRAY_PREVIEW);
                sb.append(",\"element_type\":\"").append(et).append("\",\"length\":").append(n)
                        .append(",\"truncated\":").append(shown < n).append(",\"value\":");
                jsonArray(sb, et, e.getValue(), shown);
            } else {
                sb.append(",\"value\":");
                jsonScalar(sb, type, e.getValue());
            }
            sb.append('}');
        }
        sb.append("},\"tensors\":[");
        long elements = 0, bytes = 0;
        first = true;
        for (TensorInfo t : g.tensors().values()) {
            if (!first) sb.append(',');
            first = false;
            sb.append("{\"name\":").append(jsonString(t.name())).append(",\"type\":\"").append(t.type())
                    .append("\",\"shape\":").append(Arrays.toString(t.shape()).replace(" ", ""))
                    .append(",\"offset\":").append(t.offset()).append(",\"elements\":").append(t.elements())
                    .append(",\"bytes\":").append(t.byteSize()).append('}');
            elements += t.elements();
            bytes += t.byteSize();
        }
        sb.append("],\"totals\":{\"tensors\":").append(g.tensors().size()).append(",\"elements\":").append(elements)
                .append(",\"bytes\":").append(bytes).append(",\"by_type\":{");
        first = true;
        for (Map.Entry<GGMLType, TypeTotal> e : totalsByType(g).entrySet()) {
            if (!first) sb.append(',');
            first = false;
            TypeTotal t = e.getValue();
            sb.append('"').append(e.getKey()).append("\":{\"tensors\":").append(t.tensors()).append(",\"elements\":")
                    .append(t.elements()).append(",\"bytes\":").append(t.bytes()).append('}');
        }
        sb.append("}}}");
        return sb.toString();
    }

    private static void jsonArray(StringBuilder sb, GGUFValueType et, Object array, int shown) {
        sb.append('[');
        for (int i = 0; i < shown; i++) {
            if (i > 0) sb.append(',');
            Object v = Array.get(array, i);
            if (et == GGUFValueType.ARRAY) {
                // Nested arrays carry no element type of their own; their Java array class gives it.
                jsonArray(sb, nestedType(v), v, Array.getLength(v));
            } else {
                jsonScalar(sb, et, v);
            }
        }
        sb.append(']');
    }

    private static GGUFValueType nestedType(Object v) {
        return switch (v) {
            case byte[] a -> GGUFValueType.INT8;
            case short[] a -> GGUFValueType.INT16;
            case int[] a -> GGUFValueType.INT32;
            case long[] a -> GGUFValueType.INT64;
            case float[] a -> GGUFValueType.FLOAT32;
            case double[] a -> GGUFValueType.FLOAT64;
            case boolean[] a -> GGUFValueType.BOOL;
            case String[] a -> GGUFValueType.STRING;
            default -> GGUFValueType.ARRAY;
        };
    }

    private static void jsonScalar(StringBuilder sb, GGUFValueType type, Object v) {
        switch (type) {
            case FLOAT32, FLOAT64 -> {
                double d = ((Number) v).doubleValue();
                // JSON has no NaN or infinity: they are written as strings.
                if (Double.isFinite(d)) sb.append(v);
                else sb.append('"').append(v).append('"');
            }
            case STRING -> sb.append(jsonString((String) v));
            default -> sb.append(scalarText(type, v, true));
        }
    }

    static String jsonString(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }

    static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1024 * 1024) return String.format("%.1f KiB", bytes / 1024.0);
        if (bytes < 1024L * 1024 * 1024) return String.format("%.1f MiB", bytes / (1024.0 * 1024));
        return String.format("%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    }

    static String humanCount(long n) {
        if (n < 1000) return Long.toString(n);
        if (n < 1_000_000) return String.format("%.1fK", n / 1e3);
        if (n < 1_000_000_000) return String.format("%.1fM", n / 1e6);
        return String.format("%.2fB", n / 1e9);
    }
}
