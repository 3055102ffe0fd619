package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.Tokenizers;
import io.github.tokenbutler.runtime.Llama3.SentencePieceTokenizer;
import io.github.tokenbutler.runtime.Llama3.ByteLevelBpeTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SentencePiece BPE (tokenizer.ggml.model = "llama") on real vocabularies:
 * <ul>
 * <li>Llama 2 (shared/models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf, llama.cpp's vocab-only file):
 *     the expected ids are llama.cpp's .out vectors, which Hugging Face's Llama 2 tokenizer produced and
 *     llama.cpp's SPM tokenizer reproduces.</li>
 * <li>stories260K (shared/models/stories260K): the expected ids and text are the reference greedy output in
 *     shared/models/README.md.</li>
 * </ul>
 * Decoding convention (the runtime's, documented on Llama3.Tokenizer#decode): the dummy-prefix space that
 * encoding adds stays on the first piece when there is no BOS, and is dropped from the first piece after BOS
 * (as llama2.c and llama.cpp print it). So decode(encode(s)) = " " + s and decode([BOS] + encode(s)) = s.
 */
class TokenizerSpmTest {
    static Llama3.GGUF llama2Gguf;
    static Llama3.Tokenizer llama2;

    @BeforeAll
    static void load() {
        llama2Gguf = Llama3.GGUF.read(SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf"));
        llama2 = Tokenizers.fromGGUF(llama2Gguf);
    }

    @AfterAll
    static void close() {
        if (llama2Gguf != null) llama2Gguf.close();
    }

    static int[] withBos(int bos, int[] ids) {
        int[] r = new int[ids.length + 1];
        r[0] = bos;
        System.arraycopy(ids, 0, r, 1, ids.length);
        return r;
    }

    @TestFactory
    Stream<DynamicTest> llama2VectorsEncodeAndDecode() {
        List<TokenizerVectorsTest.Vector> vectors = TokenizerVectorsTest.load(
                SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf.inp"),
                SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf.out"));
        return vectors.stream().map(v -> DynamicTest.dynamicTest(v.toString(), () -> {
            int[] ids = llama2.encode(v.text());
            assertArrayEquals(v.ids(), ids, () -> "encode " + v + ": expected " + Arrays.toString(v.ids()) + " got " + Arrays.toString(ids));
            String expectedNoBos = v.text().isEmpty() ? "" : " " + v.text();
            assertEquals(expectedNoBos, llama2.decode(ids), "decode without BOS keeps the dummy prefix");
            assertEquals(v.text(), llama2.decode(withBos(llama2.bosId(), ids)), "decode after BOS drops the dummy prefix");
            // With no special-token text in the strings, parsing special tokens changes nothing.
            assertArrayEquals(v.ids(), llama2.encodeWithSpecialTokens(v.text()));
        }));
    }

    @Test
    void llama2Metadata() {
        // ggml-vocab-llama-spm.gguf: 32000 tokens, bos 1 (<s>), eos 2 (</s>), unk 0, add_bos_token true.
        assertEquals(32000, llama2.vocabSize());
        assertEquals(1, llama2.bosId());
        assertEquals(2, llama2.eosId());
        assertArrayEquals(new int[] {2}, llama2.stopIds());
        assertTrue(llama2.addBos());
        assertEquals(1, llama2.specialTokenId("<s>"));
        assertEquals(2, llama2.specialTokenId("</s>"));
        assertEquals(-1, llama2.specialTokenId("Hello"));
    }

    @Test
    void controlTokensOnlyFromSpecialParsing() {
        int[] hello = llama2.encode("Hello");
        // "Hello" → ▁Hello = 15043 (llama.cpp's older hard-coded Llama 2 vectors: " Hello" → 1 15043 ... with BOS).
        assertArrayEquals(new int[] {15043}, hello);
        int[] parsed = llama2.encodeWithSpecialTokens("<s>Hello</s>");
        // As llama.cpp: the text after a special token gets the dummy prefix again.
        assertArrayEquals(new int[] {1, 15043, 2}, parsed);
        int[] plain = llama2.encode("<s>");
        for (int id : plain) assertNotEquals(1, id, "plain encode must not produce <s>");
        assertEquals(" <s>", llama2.decode(plain));
    }

    @Test
    void streamingBytesMatchDecode() {
        String text = "Hello 🦙 wörld\n\tok";
        int[] ids = withBos(llama2.bosId(), llama2.encode(text));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int id : ids) {
            out.writeBytes(llama2.tokenBytes(prev, id));
            prev = id;
        }
        assertEquals(text, out.toString(StandardCharsets.UTF_8));
        // The llama is not in the vocabulary: four <0xNN> byte tokens, <0xF0> = 3 + 0xF0.
        assertTrue(IntStream.of(ids).anyMatch(id -> id == 3 + 0xF0));
        assertThrows(Llama3.UserError.class, () -> llama2.tokenBytes(-1, 32000));
    }

    @Test
    void longTextIsFast() {
        String text = "The quick brown fox jumps over the lazy dog. ".repeat(2000) + "x".repeat(20000);
        long t0 = System.nanoTime();
        int[] ids = llama2.encode(text);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(" " + text, llama2.decode(ids));
        assertTrue(ms < 5000, "encoding " + text.length() + " chars took " + ms + " ms");
    }

    @Test
    void wordByWordEqualsWholeText() throws Exception {
        // The tokenizer merges word by word when no piece has "▁" after another character; llama.cpp merges the
        // whole text at once. Both must give the same ids (TinyStories validation text, 160 KB).
        String text = java.nio.file.Files.readString(SharedData.require("data/tinystories/valid.txt")) + " a  b\t\n  c ▁x▁▁y";
        SentencePieceTokenizer spm = (SentencePieceTokenizer) llama2;
        assertTrue(spm.wordsAreIndependent());
        assertArrayEquals(spm.encodeWithoutWordCuts(text), spm.encode(text));
    }

    @Test
    void stories260kReferenceIds() {
        try (Llama3.GGUF g = Llama3.GGUF.read(SharedData.require("models/stories260K/stories260K.gguf"))) {
            Llama3.Tokenizer t = Tokenizers.fromGGUF(g);
            assertEquals(512, t.vocabSize());
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertTrue(t.addBos());
            // shared/models/README.md: greedy output from BOS begins with ids 403 407 261 378 ... for "Once upon a time, ...".
            assertArrayEquals(new int[] {403, 407, 261, 378}, t.encode("Once upon a time"));
            int[] reference = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
            // Those 15 ids after BOS are the README's text up to "Lily." (the rest of its sentence follows later ids).
            String decoded = t.decode(reference);
            assertEquals("Once upon a time, there was a little girl named Lily.", decoded);
            assertArrayEquals(Arrays.copyOfRange(reference, 1, reference.length), t.encode(decoded));
            // Byte fallback: stories260K has the 256 <0xNN> tokens at ids 3..258.
            assertArrayEquals(new int[] {3 + 0xE4, 3 + 0xB8, 3 + 0x96}, Arrays.copyOfRange(t.encode("世"), 1, 4));
            assertEquals(" 世", t.decode(t.encode("世")));
        }
    }
}
