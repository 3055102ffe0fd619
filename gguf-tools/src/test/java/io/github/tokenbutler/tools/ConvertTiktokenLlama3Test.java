package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.SharedData;
import io.github.tokenbutler.runtime.TokenizerVectorsTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Meta's Llama 3 tokenizer.model (shared/models/tokenizer-tests/llama3-bpe) converted by convert-tiktoken and
 * read back by the runtime. Expected values come from:
 * <ul>
 * <li>llama.cpp's test vectors ggml-vocab-llama-bpe.gguf.out (Hugging Face's Llama 3 tokenizer's ids for the 46
 *     strings of the .inp; llama.cpp's test-tokenizer-0 checks its own tokenizer against them);</li>
 * <li>tiktoken's algorithm run directly on the rank file (below: Meta's pre-tokenizer regex, then repeatedly
 *     merge the adjacent pair whose concatenation has the lowest rank), which is how Meta's own tokenizer.py
 *     encodes, for the 400 KB TinyStories text.</li>
 * </ul>
 * Decoding: byte-level BPE loses nothing, so decode(encode(s)) = s exactly.
 */
class ConvertTiktokenLlama3Test {
    @TempDir static Path dir;
    static GGUF gguf;
    static Llama3.Tokenizer tokenizer;
    static ConvertTiktokenCommand.Ranks ranks;

    @BeforeAll
    static void convert() {
        Path model = SharedData.require("models/tokenizer-tests/llama3-bpe/llama3-tokenizer.model");
        Path out = dir.resolve("llama3-vocab.gguf");
        ConvertTiktokenCommand.convert(model, out, "llama3");
        ranks = ConvertTiktokenCommand.readRanks(model);
        gguf = GGUF.read(out);
        tokenizer = ConvertTiktokenCommandTest.tokenizer(gguf);
    }

    @AfterAll
    static void close() {
        if (gguf != null) gguf.close();
    }

    @TestFactory
    Stream<DynamicTest> llamaCppVectorsEncodeAndDecode() {
        List<TokenizerVectorsTest.Vector> vectors = TokenizerVectorsTest.load(
                SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.inp"),
                SharedData.require("models/tokenizer-tests/llama3-bpe/ggml-vocab-llama-bpe.gguf.out"));
        assertEquals(46, vectors.size());
        return vectors.stream().map(v -> DynamicTest.dynamicTest(v.toString(), () -> {
            int[] ids = tokenizer.encode(v.text());
            assertArrayEquals(v.ids(), ids, () -> "encode " + v + ": expected " + Arrays.toString(v.ids()) + " got " + Arrays.toString(ids));
            assertEquals(v.text(), tokenizer.decode(ids));
            assertArrayEquals(v.ids(), tokenizer.encodeWithSpecialTokens(v.text()));
        }));
    }

    @Test
    void vocabularyAndSpecialTokens() {
        String[] tokens = gguf.get("tokenizer.ggml.tokens");
        assertEquals(128256, tokens.length);
        assertEquals(128256, tokenizer.vocabSize());
        // transformers' TikTokenConverter gives Llama 3 280147 merges (the size of the merges list in Meta-Llama-3's
        // tokenizer.json); an independent Python replica of that conversion over this file gave the same count.
        assertEquals(280147, ((String[]) gguf.get("tokenizer.ggml.merges")).length);
        assertEquals(128000, tokenizer.bosId());
        assertEquals(128001, tokenizer.eosId());
        assertTrue(tokenizer.addBos());
        assertArrayEquals(new int[] {128001, 128009, 128008}, tokenizer.stopIds());
        assertEquals(128006, tokenizer.specialTokenId("<|start_header_id|>"));
        assertEquals(128007, tokenizer.specialTokenId("<|end_header_id|>"));
        assertEquals(128010, tokenizer.specialTokenId("<|python_tag|>"));
        assertEquals(-1, tokenizer.specialTokenId("hello"));

        // A chat header: special tokens from their text only with encodeWithSpecialTokens; the text between them is
        // encoded as plain text (ids from the tiktoken reference).
        String chat = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>";
        List<Integer> expected = new ArrayList<>(List.of(128000, 128006));
        for (int id : tiktoken("user")) expected.add(id);
        expected.add(128007);
        for (int id : tiktoken("\n\nhello")) expected.add(id);
        expected.add(128009);
        assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), tokenizer.encodeWithSpecialTokens(chat));
        int[] plain = tokenizer.encode(chat);
        assertArrayEquals(tiktoken(chat), plain, "plain encode treats special-token text as text");
        assertTrue(Arrays.stream(plain).allMatch(id -> id < 128000));
        // Control tokens carry no text when decoded.
        assertEquals("user\n\nhello", tokenizer.decode(tokenizer.encodeWithSpecialTokens(chat)));
    }

    @Test
    void tinyStoriesMatchesTiktokenAndIsFast() throws Exception {
        String train = Files.readString(SharedData.require("data/tinystories/train.txt"));
        // A fresh tokenizer, so the word cache starts empty (the JIT is warm from the vectors or not, by test order).
        Llama3.Tokenizer fresh = ConvertTiktokenCommandTest.tokenizer(gguf);
        long t0 = System.nanoTime();
        int[] ids = fresh.encode(train);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("Llama 3 tokenizer: %d chars -> %d tokens in %.3f s (%.0f chars/s, empty word cache)%n",
                train.length(), ids.length, seconds, train.length() / seconds);
        assertTrue(seconds < 10, "encoding " + train.length() + " chars took " + seconds + " s");
        assertArrayEquals(tiktoken(train), ids);
        assertEquals(train, fresh.decode(ids));
    }

    // ---------------------------------------------------------------------------------------------
    // tiktoken's algorithm, straight from the ranks (the reference, deliberately simple and slow)
    // ---------------------------------------------------------------------------------------------

    /** Meta's pat_str from llama3 tokenizer.py; \s must be Unicode whitespace, hence UNICODE_CHARACTER_CLASS. */
    static final Pattern PAT = Pattern.compile(
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);
    static Map<String, Integer> rankOf;

    static int[] tiktoken(String text) {
        if (rankOf == null) {
            Map<String, Integer> m = new HashMap<>();
            for (int i = 0; i < ranks.tokens().size(); i++) m.put(new String(ranks.tokens().get(i), StandardCharsets.ISO_8859_1), i);
            rankOf = m;
        }
        List<Integer> out = new ArrayList<>();
        Matcher matcher = PAT.matcher(text);
        while (matcher.find()) {
            String piece = new String(matcher.group().getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
            Integer whole = rankOf.get(piece);
            if (whole != null) {
                out.add(whole);
                continue;
            }
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < piece.length(); i++) parts.add(piece.substring(i, i + 1));
            while (true) {
                int best = -1, bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < parts.size(); i++) {
                    Integer r = rankOf.get(parts.get(i) + parts.get(i + 1));
                    if (r != null && r < bestRank) { bestRank = r; best = i; }
                }
                if (best < 0) break;
                parts.set(best, parts.get(best) + parts.remove(best + 1));
            }
            for (String p : parts) out.add(rankOf.get(p));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
