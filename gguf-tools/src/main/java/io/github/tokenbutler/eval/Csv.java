package io.github.tokenbutler.eval;

import java.util.List;
import java.util.Locale;

/** RFC 4180 CSV text: comma-separated, '\n' line ends, fields quoted only when they need it. */
public final class Csv {
    private Csv() {}

    public static String line(List<String> fields) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fields.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append(field(fields.get(i)));
        }
        return sb.append('\n').toString();
    }

    /**
     * The records of a CSV text: fields split at commas, quoted fields unquoted ("" is one quote), '\n' or
     * "\r\n" line ends, blank lines skipped. where names the text in the message of a quote left open.
     */
    public static List<List<String>> parse(String text, String where) {
        List<List<String>> records = new java.util.ArrayList<>();
        List<String> fields = new java.util.ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false, any = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c != '"') field.append(c);
                else if (i + 1 < text.length() && text.charAt(i + 1) == '"') { field.append('"'); i++; }
                else quoted = false;
            } else if (c == '"') {
                quoted = true;
                any = true;
            } else if (c == ',') {
                fields.add(field.toString());
                field.setLength(0);
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') i++;
                if (any || field.length() > 0) {
                    fields.add(field.toString());
                    records.add(fields);
                }
                fields = new java.util.ArrayList<>();
                field.setLength(0);
                any = false;
            } else {
                field.append(c);
            }
        }
        if (quoted) throw new io.github.tokenbutler.runtime.Llama3.UserError(where + ": a quoted field is not closed before the end of the file");
        if (any || field.length() > 0) {
            fields.add(field.toString());
            records.add(fields);
        }
        return records;
    }

    static String field(String s) {
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) return s;
        return '"' + s.replace("\"", "\"\"") + '"';
    }

    /** A number with fixed decimals in the root locale (never "0,5"); NaN as "NaN". */
    public static String number(double v, int decimals) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "Infinity" : "-Infinity";
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }
}
