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
