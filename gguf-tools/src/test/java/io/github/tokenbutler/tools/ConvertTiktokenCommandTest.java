package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** convert-tiktoken on small hand-written rank files: the GGUF it writes and its errors. */
class ConvertTiktokenCommandTest {
    @TempDir Path dir;

    static Llama3.Tokenizer tokenizer(GGUF gguf) {
        return Llama3.tokenizerFromGGUF(gguf);
    }

    static String line(byte[] token, int rank) { return Base64.getEncoder().encodeToString(token) + " " + rank; }

    /** The 256 single bytes (ranks 0..255, in byte order), then the given multi-byte tokens. */
    static List<String> ranks(String... extra) {
        List<String> lines = new ArrayList<>();
        for (int b = 0; b < 256; b++) lines.add(line(new byte[] {(byte) b}, b));
        for (String e : extra) lines.add(line(e.getBytes(StandardCharsets.UTF_8), lines.size()));
        return lines;
    }

    Path file(String name, List<String> lines) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, String.join("\n", lines) + "\n");
        return p;
    }

    record Run(int exit, String out, String err) {}

    static Run cli(String... argv) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(argv);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void writesAVocabularyOnlyGguf() throws IOException {
        // " t" and "he" join bytes; " the" has the splits " t"+"he" and " th"? (" th" is not a token) → one merge;
        // "hehe" splits as "he"+"he" only. Expected merges, in the rank order of the token they make (GPT-2 chars: Ġ = space).
        Path ranks = file("tiny.tiktoken", ranks(" t", "he", " the", "hehe"));
        Path out = dir.resolve("tiny.gguf");
        Run r = cli("convert-tiktoken", ranks.toString(), out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("260 ranked") || r.out().contains("516 tokens"), r.out());
        try (GGUF g = GGUF.read(out)) {
            assertEquals(3, g.version());
            assertTrue(g.tensors().isEmpty());
            assertEquals("llama", g.get("general.architecture"));
            assertEquals("tiny", g.get("general.name"));
            assertEquals("gpt2", g.get("tokenizer.ggml.model"));
            assertEquals("llama-bpe", g.get("tokenizer.ggml.pre"));
            String[] tokens = g.get("tokenizer.ggml.tokens");
            assertEquals(260 + 256, tokens.length);
            assertEquals("!", tokens['!']);
            assertEquals("\u0120", tokens[' ']); // GPT-2's stand-in for the space byte
            assertEquals("\u0120t", tokens[256]);
            assertEquals("<|begin_of_text|>", tokens[260]);
            assertEquals("<|end_of_text|>", tokens[261]);
            assertEquals("<|eot_id|>", tokens[260 + 9]);
            assertEquals("<|reserved_special_token_247|>", tokens[260 + 255]);
            int[] types = g.get("tokenizer.ggml.token_type");
            assertEquals(GGUFValueType.INT32, g.arrayElementTypes().get("tokenizer.ggml.token_type"));
            assertEquals(1, types[259]);
            assertEquals(3, types[260]);
            assertArrayEquals(new String[] {"\u0120 t", "h e", "\u0120t he", "he he"}, g.get("tokenizer.ggml.merges"));
            assertEquals(260, g.getLong("tokenizer.ggml.bos_token_id", -1));
            assertEquals(261, g.getLong("tokenizer.ggml.eos_token_id", -1));
            assertEquals(GGUFValueType.UINT32, g.valueTypes().get("tokenizer.ggml.bos_token_id"));

            Llama3.Tokenizer t = tokenizer(g);
            assertArrayEquals(new int[] {'h', 258, 256, 'e'}, t.encode("h the te"));
            assertArrayEquals(new int[] {260, 259, 269}, t.encodeWithSpecialTokens("<|begin_of_text|>hehe<|eot_id|>"));
            assertArrayEquals(new int[] {261, 269, 268}, t.stopIds()); // eos, <|eot_id|>, <|eom_id|>
            assertEquals(269, t.specialTokenId("<|eot_id|>"));
            assertTrue(t.addBos());
            assertEquals("h the te", t.decode(t.encode("h the te")));
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("tiny.gguf", "tiny.tiktoken"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary file is left beside the output");
        }
    }

    @Test
    void specialTokenNamesFollowLlama31() {
        String[] s = ConvertTiktokenCommand.llama3SpecialTokens();
        // Meta's llama-models llama3 tokenizer.py (Llama 3.1): ids 128000.. in this order.
        assertEquals("<|begin_of_text|>", s[0]);
        assertEquals("<|end_of_text|>", s[1]);
        assertEquals("<|reserved_special_token_0|>", s[2]);
        assertEquals("<|reserved_special_token_1|>", s[3]);
        assertEquals("<|finetune_right_pad_id|>", s[4]);
        assertEquals("<|reserved_special_token_2|>", s[5]);
        assertEquals("<|start_header_id|>", s[6]);
        assertEquals("<|end_header_id|>", s[7]);
        assertEquals("<|eom_id|>", s[8]);
        assertEquals("<|eot_id|>", s[9]);
        assertEquals("<|python_tag|>", s[10]);
        assertEquals("<|reserved_special_token_3|>", s[11]);
        assertEquals("<|reserved_special_token_247|>", s[255]);
        assertEquals(256, Stream.of(s).distinct().count());
    }

    private String error(List<String> lines) throws IOException {
        Path p = file("bad" + System.nanoTime() + ".tiktoken", lines);
        Path out = dir.resolve("never.gguf");
        String msg = assertThrows(UserError.class, () -> ConvertTiktokenCommand.convert(p, out, "x")).getMessage();
        assertFalse(Files.exists(out), "nothing is written for a bad rank file");
        return msg;
    }

    @Test
    void badRankFilesNameTheLine() throws IOException {
        List<String> badBase64 = ranks();
        badBase64.set(2, "@@not-base64@@ 2");
        String m1 = error(badBase64);
        assertTrue(m1.contains("line 3") && m1.contains("base64"), m1);

        List<String> gap = ranks("ab");
        gap.set(256, line("ab".getBytes(StandardCharsets.UTF_8), 300));
        String m2 = error(gap);
        assertTrue(m2.contains("line 257") && m2.contains("300") && m2.contains("expected 256"), m2);

        String m3 = error(List.of());
        assertTrue(m3.contains("no tokens"), m3);

        List<String> dup = ranks("ab", "ab");
        String m4 = error(dup);
        assertTrue(m4.contains("line 258") && m4.contains("line 257"), m4);

        List<String> oneField = ranks();
        oneField.set(10, "QUJD");
        String m5 = error(oneField);
        assertTrue(m5.contains("line 11") && m5.contains("base64(token bytes) rank"), m5);

        List<String> badRank = ranks();
        badRank.set(4, "BA== four");
        String m6 = error(badRank);
        assertTrue(m6.contains("line 5") && m6.contains("'four'"), m6);

        List<String> missingByte = new ArrayList<>(ranks().subList(0, 255)); // no byte 0xFF
        String m7 = error(missingByte);
        assertTrue(m7.contains("0xFF") && m7.contains("256"), m7);

        List<String> empty = ranks();
        empty.add(" 256");
        empty.set(256, "= 256");
        String m8 = error(empty);
        assertTrue(m8.contains("line 257"), m8);
    }

    @Test
    void cliErrors() throws IOException {
        Run missing = cli("convert-tiktoken", dir.resolve("nope.model").toString(), dir.resolve("o.gguf").toString());
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("RANKS") && missing.err().contains("not found"), missing.err());
        Run noOut = cli("convert-tiktoken", file("r.tiktoken", ranks()).toString());
        assertEquals(2, noOut.exit());
        assertTrue(noOut.err().contains("OUT.gguf"), noOut.err());
        Run help = cli("convert-tiktoken", "--help");
        assertEquals(0, help.exit());
        assertTrue(help.out().contains("convert-tiktoken RANKS OUT.gguf"));
        Run named = cli("convert-tiktoken", file("n.tiktoken", ranks()).toString(), dir.resolve("n.gguf").toString(), "--name", "My Vocab");
        assertEquals(0, named.exit(), named.err());
        try (GGUF g = GGUF.read(dir.resolve("n.gguf"))) {
            assertEquals("My Vocab", g.get("general.name"));
        }
    }
}
