package io.github.tokenbutler.runtime;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * llama.cpp's tokenizer test vectors (shared/models/tokenizer-tests, from llama.cpp's models/ folder; see its
 * MANIFEST.txt). The framing is the one of llama.cpp's tests/test-tokenizer-0.cpp and of the script that wrote
 * the files (convert_hf_to_gguf_update.py): the .inp file is every test string followed by
 * "\n__ggml_vocab_test__\n", so splitting on that separator gives the strings and an empty remainder after the
 * last one, which is not a test; the .out file has one line per string, the ids Hugging Face's tokenizer gave
 * with add_special_tokens=False, each written as " id" (an empty line for the empty string).
 */
public class TokenizerVectorsTest {
    public static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    /** One test string and the ids the reference tokenizer gave it. */
    public record Vector(int index, String text, int[] ids) {
        @Override public String toString() { return "#" + index + " " + escape(text); }
    }

    public static List<Vector> load(Path inp, Path out) {
        try {
            String raw = Files.readString(inp, StandardCharsets.UTF_8);
            List<String> texts = new ArrayList<>();
            for (int pos = 0; ; ) {
                int next = raw.indexOf(SEPARATOR, pos);
                if (next < 0) {
                    if (pos != raw.length()) throw new IllegalStateException(inp + ": text after the last separator");
                    break;
                }
                texts.add(raw.substring(pos, next));
                pos = next + SEPARATOR.length();
            }
            List<String> lines = new ArrayList<>(Arrays.asList(Files.readString(out, StandardCharsets.UTF_8).split("\n", -1)));
            if (!lines.isEmpty() && lines.getLast().isEmpty()) lines.removeLast(); // the final newline
            if (lines.size() != texts.size()) {
                throw new IllegalStateException(out + " has " + lines.size() + " lines for " + texts.size() + " strings in " + inp);
            }
            List<Vector> vectors = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                String line = lines.get(i).trim();
                int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" +")).mapToInt(Integer::parseInt).toArray();
                vectors.add(new Vector(i, texts.get(i), ids));
            }
            return vectors;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    @Test
    void bothVectorFilesHoldTheSame46Strings() {
        // MANIFEST.txt says "47 test strings"; the .inp holds 46 strings plus the empty remainder after the last
        // separator (llama.cpp's reader drops it too), and each .out has 46 lines.
        List<Vector> spm = load(SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf.inp"),
                SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf.out"));
        List<Vector> bpe = load(SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.inp"),
                SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.out"));
        assertEquals(46, spm.size());
        assertEquals(46, bpe.size());
        for (int i = 0; i < spm.size(); i++) assertEquals(spm.get(i).text(), bpe.get(i).text());
        // Spot checks against the files as read by eye: string 0 is "ied 4 ½ months" (SPM line " 474 287 29871 29946
        // 29871 30226 7378"), string 2 is "" (empty lines), string 3 is " " (SPM ▁▁ = 259, Llama 3 Ġ = 220).
        assertEquals("ied 4 \u00bd months", spm.get(0).text());
        assertArrayEquals(new int[] {474, 287, 29871, 29946, 29871, 30226, 7378}, spm.get(0).ids());
        assertEquals("", spm.get(2).text());
        assertArrayEquals(new int[0], spm.get(2).ids());
        assertArrayEquals(new int[0], bpe.get(2).ids());
        assertEquals(" ", spm.get(3).text());
        assertArrayEquals(new int[] {259}, spm.get(3).ids());
        assertArrayEquals(new int[] {220}, bpe.get(3).ids());
    }
}
