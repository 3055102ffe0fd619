package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Expected values come from the committed test model (its README gives the synth command) and stories260K's MANIFEST. */
class InspectCommandTest {

    @Test
    void textShowsHeaderMetadataTensorsAndTotals() {
        Path m = SharedData.testModel("tiny-q8_0.gguf");
        CliErrorsTest.Result r = CliErrorsTest.run("inspect", m.toString());
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        assertTrue(out.contains("GGUF v3"), out);
        assertTrue(out.matches("(?s).*general\\.architecture\\s+STRING\\s+\"llama\".*"), out);
        assertTrue(out.matches("(?s).*llama\\.embedding_length\\s+UINT32\\s+64\\n.*"), out);
        // 300 tokens: the first 8 shown, the rest counted.
        assertTrue(out.contains("ARRAY[STRING] (300)"), out);
        assertTrue(out.contains("[\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", \"<0x01>\", \"<0x02>\", \"<0x03>\", \"<0x04>\", ... 292 more]"), out);
        // blk.0.attn_q.weight: 64 x 64 Q8_0 = 128 blocks of 34 bytes.
        assertTrue(out.matches("(?s).*blk\\.0\\.attn_q\\.weight\\s+Q8_0\\s+\\[64, 64\\]\\s+4096\\s+4352\\n.*"), out);
        assertTrue(out.contains("totals:    21 tensors"), out);
        assertTrue(out.matches("(?s).*Q8_0\\s+16 tensors.*"), out);
    }

    @Test
    void allShowsEveryArrayElement() {
        CliErrorsTest.Result r = CliErrorsTest.run("inspect", "--all", SharedData.testModel("tiny-f32.gguf").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"<0xFF>\""), "byte token 255 is element 258");
        assertFalse(r.out().contains("more]"));
    }

    @Test
    void jsonIsMachineReadable() {
        CliErrorsTest.Result r = CliErrorsTest.run("inspect", "--json", SharedData.testModel("tiny-q8_0.gguf").toString());
        assertEquals(0, r.code(), r.err());
        String json = r.out().strip();
        assertEquals(1, r.out().lines().count(), "one line");
        Object parsed = new MiniJson(json).parse();
        @SuppressWarnings("unchecked") var top = (java.util.Map<String, Object>) parsed;
        assertEquals(3L, top.get("version"));
        @SuppressWarnings("unchecked") var md = (java.util.Map<String, java.util.Map<String, Object>>) top.get("metadata");
        assertEquals("llama", md.get("general.architecture").get("value"));
        assertEquals("UINT32", md.get("llama.block_count").get("type"));
        assertEquals(2L, md.get("llama.block_count").get("value"));
        assertEquals(300L, md.get("tokenizer.ggml.tokens").get("length"));
        assertEquals(true, md.get("tokenizer.ggml.tokens").get("truncated"));
        @SuppressWarnings("unchecked") var tensors = (java.util.List<java.util.Map<String, Object>>) top.get("tensors");
        assertEquals(21, tensors.size());
        var q = tensors.stream().filter(t -> t.get("name").equals("blk.0.attn_q.weight")).findFirst().orElseThrow();
        assertEquals("Q8_0", q.get("type"));
        assertEquals(java.util.List.of(64L, 64L), q.get("shape"));
        assertEquals(4352L, q.get("bytes"));
        @SuppressWarnings("unchecked") var totals = (java.util.Map<String, Object>) top.get("totals");
        assertEquals(21L, totals.get("tensors"));
    }

    @Test
    void realModelTotalsMatchItsManifest() {
        // MANIFEST.txt: 48 tensors, all F32, 19 KV, data starts at byte 14176.
        Path m = SharedData.require("models/stories260K/stories260K.gguf");
        CliErrorsTest.Result r = CliErrorsTest.run("inspect", m.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("19 metadata entries, 48 tensors, alignment 32, data at byte 14176"), r.out());
        assertTrue(r.out().matches("(?s).*F32\\s+48 tensors.*"), r.out());
    }

    /** Just enough JSON to check the output parses: objects, arrays, strings, numbers, booleans. */
    static final class MiniJson {
        private final String s;
        private int i;

        MiniJson(String s) { this.s = s; }

        Object parse() {
            Object v = value();
            ws();
            if (i != s.length()) throw new IllegalArgumentException("trailing text at " + i);
            return v;
        }

        private void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }

        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                var m = new java.util.LinkedHashMap<String, Object>();
                i++;
                ws();
                if (s.charAt(i) == '}') { i++; return m; }
                while (true) {
                    ws();
                    String k = (String) value();
                    ws();
                    expect(':');
                    if (m.put(k, value()) != null) throw new IllegalArgumentException("duplicate key " + k);
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect('}');
                    return m;
                }
            }
            if (c == '[') {
                var l = new java.util.ArrayList<Object>();
                i++;
                ws();
                if (s.charAt(i) == ']') { i++; return l; }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect(']');
                    return l;
                }
            }
            if (c == '"') {
                StringBuilder sb = new StringBuilder();
                i++;
                while (s.charAt(i) != '"') {
                    char ch = s.charAt(i++);
                    if (ch == '\\') {
                        char e = s.charAt(i++);
                        switch (e) {
                            case 'n' -> sb.append('\n');
                            case 't' -> sb.append('\t');
                            case 'r' -> sb.append('\r');
                            case 'u' -> { sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; }
                            default -> sb.append(e);
                        }
                    } else {
                        if (ch < 0x20) throw new IllegalArgumentException("raw control character in string at " + i);
                        sb.append(ch);
                    }
                }
                i++;
                return sb.toString();
            }
            if (s.startsWith("true", i)) { i += 4; return true; }
            if (s.startsWith("false", i)) { i += 5; return false; }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String num = s.substring(start, i);
            if (num.isEmpty()) throw new IllegalArgumentException("unexpected '" + c + "' at " + start);
            return num.matches("-?\\d+") ? (Object) Long.parseLong(num) : (Object) Double.parseDouble(num);
        }

        private void expect(char c) {
            if (s.charAt(i) != c) throw new IllegalArgumentException("expected '" + c + "' at " + i + ", got '" + s.charAt(i) + "'");
            i++;
        }
    }
}
