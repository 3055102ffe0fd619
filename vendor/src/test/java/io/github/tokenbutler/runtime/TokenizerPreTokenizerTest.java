package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.Tokenizers;
import io.github.tokenbutler.runtime.Llama3.SentencePieceTokenizer;
import io.github.tokenbutler.runtime.Llama3.ByteLevelBpeTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The hand-written pre-tokenizer scanners against the regexes they implement, run by java.util.regex with
 * UNICODE_CHARACTER_CLASS (so \s is Unicode White_Space, the class llama.cpp uses). The Llama 3 regex is Meta's
 * (llama3 tokenizer.py pat_str, also llama.cpp's LLAMA3 pre-tokenizer); the GPT-2 one is OpenAI's encoder.py.
 */
class TokenizerPreTokenizerTest {
    static final Pattern LLAMA3 = Pattern.compile(
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);
    static final Pattern GPT2 = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    static List<String> byRegex(Pattern p, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        int last = 0;
        while (m.find()) {
            // The regexes match every character, so matches must tile the text.
            assertEquals(last, m.start(), () -> "regex skipped text in " + TokenizerVectorsTest.escape(s));
            out.add(m.group());
            last = m.end();
        }
        assertEquals(s.length(), last);
        return out;
    }

    static List<String> byScanner(BiFunction<String, Integer, Integer> next, String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); ) {
            int end = next.apply(s, i);
            out.add(s.substring(i, end));
            i = end;
        }
        return out;
    }

    @Test
    void llama3HandPickedCases() {
        // Expected splits worked out from the regex alternatives by hand.
        assertEquals(List.of("Hello", " world"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "Hello world"));
        assertEquals(List.of("  ", " Hello"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "   Hello"));
        assertEquals(List.of("I", "'ve", " been", " '", "told", " he", "'s", " there", ",", " '", "RE", " you"),
                byScanner(Tokenizers.PreTokenizer::nextLlama3, "I've been 'told he's there, 'RE you"));
        assertEquals(List.of("We", "'Ve", " a", "'lL"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "We'Ve a'lL"));
        assertEquals(List.of("333", "333", "3"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "3333333"));
        // The whitespace run before x leaves its last character to join x ([^\r\n\p{L}\p{N}]?\p{L}+).
        assertEquals(List.of("\n \n\n", " \t\t ", "\tx"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "\n \n\n \t\t \tx"));
        assertEquals(List.of("...\n\n", "  "), byScanner(Tokenizers.PreTokenizer::nextLlama3, "...\n\n  "));
        assertEquals(List.of("Cửa", " Việt"), byScanner(Tokenizers.PreTokenizer::nextLlama3, "Cửa Việt"));
    }

    @Test
    void scannersMatchTheRegexesOnTheTestVectorsAndTinyStories() throws Exception {
        List<String> texts = new ArrayList<>();
        for (TokenizerVectorsTest.Vector v : TokenizerVectorsTest.load(
                SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.inp"),
                SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.out"))) {
            texts.add(v.text());
        }
        texts.add(Files.readString(SharedData.require("data/tinystories/valid.txt")));
        for (String t : texts) {
            assertEquals(byRegex(LLAMA3, t), byScanner(Tokenizers.PreTokenizer::nextLlama3, t), () -> "llama3 " + TokenizerVectorsTest.escape(t));
            assertEquals(byRegex(GPT2, t), byScanner(Tokenizers.PreTokenizer::nextGpt2, t), () -> "gpt2 " + TokenizerVectorsTest.escape(t));
        }
    }

    @Test
    void scannersMatchTheRegexesOnRandomText() {
        // Characters chosen to exercise every class boundary: ASCII letters/digits, apostrophes and the contraction
        // letters, \r \n \t and Unicode spaces (NBSP, thin space, ideographic space, NEL), combining marks (not
        // letters), other numbers (², Ⅻ, ٣), CJK, an emoji outside the BMP, punctuation and a C0 control.
        String[] alphabet = {"a", "Z", "s", "S", "t", "r", "e", "v", "l", "L", "d", "m", "M", "1", "9", "'", " ", " ", " ",
                "\r", "\n", "\t", "\u00a0", "\u2009", "\u3000", "\u0085", "\u0301", "\u0323", "\u00b2", "\u216b", "\u0663",
                "世", "ử", "😁", "!", ".", "-", "\u0001", "\u000b", "\u001c"};
        Random rnd = new Random(12345);
        for (int n = 0; n < 20000; n++) {
            StringBuilder sb = new StringBuilder();
            int len = 1 + rnd.nextInt(14);
            for (int i = 0; i < len; i++) sb.append(alphabet[rnd.nextInt(alphabet.length)]);
            String t = sb.toString();
            assertEquals(byRegex(LLAMA3, t), byScanner(Tokenizers.PreTokenizer::nextLlama3, t), () -> "llama3 " + TokenizerVectorsTest.escape(t));
            assertEquals(byRegex(GPT2, t), byScanner(Tokenizers.PreTokenizer::nextGpt2, t), () -> "gpt2 " + TokenizerVectorsTest.escape(t));
        }
    }
}
