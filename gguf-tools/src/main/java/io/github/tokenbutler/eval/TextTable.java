package io.github.tokenbutler.eval;

import java.util.ArrayList;
import java.util.List;

/** A plain-text table for the terminal: first column left-aligned, the others right-aligned. */
public final class TextTable {
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public TextTable(List<String> header) { this.header = header; }

    public TextTable add(List<String> row) {
        if (row.size() != header.size()) throw new IllegalArgumentException("row has " + row.size() + " cells, header " + header.size());
        rows.add(row);
        return this;
    }

    public String render() {
        int[] width = new int[header.size()];
        for (int c = 0; c < width.length; c++) {
            width[c] = header.get(c).length();
            for (List<String> r : rows) width[c] = Math.max(width[c], r.get(c).length());
        }
        StringBuilder sb = new StringBuilder();
        appendRow(sb, header, width);
        for (int c = 0; c < width.length; c++) {
            if (c > 0) sb.append("  ");
            sb.append("-".repeat(width[c]));
        }
        sb.append('\n');
        for (List<String> r : rows) appendRow(sb, r, width);
        return sb.toString();
    }

    private static void appendRow(StringBuilder sb, List<String> cells, int[] width) {
        for (int c = 0; c < width.length; c++) {
            if (c > 0) sb.append("  ");
            String s = cells.get(c);
            String pad = " ".repeat(width[c] - s.length());
            sb.append(c == 0 ? s + pad : pad + s);
        }
        // No trailing spaces: tables are compared as text in tests and pasted into docs.
        int end = sb.length();
        while (end > 0 && sb.charAt(end - 1) == ' ') end--;
        sb.setLength(end);
        sb.append('\n');
    }
}
