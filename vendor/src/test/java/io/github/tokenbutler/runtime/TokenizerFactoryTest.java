package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.Tokenizers;
import io.github.tokenbutler.runtime.Llama3.SentencePieceTokenizer;
import io.github.tokenbutler.runtime.Llama3.ByteLevelBpeTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tokenizers.fromGGUF on small hand-made vocabularies: the errors for files it cannot use, and the byte-level
 * BPE merge loop against a plain quadratic BPE (the textbook algorithm: merge the adjacent pair with the lowest
 * merge rank, leftmost first, until none has a merge), which is the definition the heap version must match.
 */
class TokenizerFactoryTest {
    @TempDir Path dir;

    /** A minimal GGUF v3 writer (metadata only), so these tests need nothing outside the runtime. */
    static final class MiniGguf {
        private final Map<String, Object> kv = new LinkedHashMap<>();

        MiniGguf put(String key, Object value) { kv.put(key, value); return this; }

        Path write(Path file) throws IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(new byte[] {'G', 'G', 'U', 'F'});
            u32(out, 3);
            u64(out, 0);
            u64(out, kv.size());
            for (Map.Entry<String, Object> e : kv.entrySet()) {
                string(out, e.getKey());
                switch (e.getValue()) {
                    case String s -> { u32(out, 8); string(out, s); }
                    case Integer i -> { u32(out, 4); u32(out, i); }
                    case Boolean b -> { u32(out, 7); out.write(b ? 1 : 0); }
                    case String[] a -> { u32(out, 9); u32(out, 8); u64(out, a.length); for (String s : a) string(out, s); }
                    case int[] a -> { u32(out, 9); u32(out, 5); u64(out, a.length); for (int x : a) u32(out, x); }
                    case float[] a -> { u32(out, 9); u32(out, 6); u64(out, a.length); for (float x : a) u32(out, Float.floatToIntBits(x)); }
                    default -> throw new IllegalArgumentException(e.getKey());
                }
            }
            Files.write(file, out.toByteArray());
            return file;
        }

        private static void u32(ByteArrayOutputStream o, int v) { o.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array()); }
        private static void u64(ByteArrayOutputStream o, long v) { o.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array()); }
        private static void string(ByteArrayOutputStream o, String s) { byte[] b = s.getBytes(StandardCharsets.UTF_8); u64(o, b.length); o.writeBytes(b); }
    }

    private String errorOf(MiniGguf m) throws IOException {
        Path p = m.write(dir.resolve("t" + System.nanoTime() + ".gguf"));
        try (Llama3.GGUF g = Llama3.GGUF.read(p)) {
            return assertThrows(Llama3.UserError.class, () -> Tokenizers.fromGGUF(g)).getMessage();
        }
    }

    private Llama3.Tokenizer load(MiniGguf m) throws IOException {
        Path p = m.write(dir.resolve("t" + System.nanoTime() + ".gguf"));
        try (Llama3.GGUF g = Llama3.GGUF.read(p)) {
            return Tokenizers.fromGGUF(g); // the tokenizer copies what it needs; the file may close
        }
    }

    static final String[] FIVE = {"<unk>", "<s>", "</s>", "\u2581a", "b"};

    @Test
    void unsupportedModelNamesItAndTheSupportedOnes() throws IOException {
        String msg = errorOf(new MiniGguf().put("tokenizer.ggml.model", "bert").put("tokenizer.ggml.tokens", FIVE));
        assertTrue(msg.contains("'bert'") && msg.contains("llama") && msg.contains("gpt2"), msg);
    }

    @Test
    void missingModelOrTokensAreUserErrors() throws IOException {
        String noModel = errorOf(new MiniGguf().put("general.architecture", "llama").put("tokenizer.ggml.tokens", FIVE));
        assertTrue(noModel.contains("tokenizer.ggml.model") && noModel.contains("missing"), noModel);
        String noTokens = errorOf(new MiniGguf().put("tokenizer.ggml.model", "llama"));
        assertTrue(noTokens.contains("tokenizer.ggml.tokens") && noTokens.contains("missing"), noTokens);
        String noTokensGpt2 = errorOf(new MiniGguf().put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.merges", new String[0]));
        assertTrue(noTokensGpt2.contains("tokenizer.ggml.tokens"), noTokensGpt2);
    }

    @Test
    void malformedMetadataIsAUserError() throws IOException {
        String types = errorOf(new MiniGguf().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", FIVE)
                .put("tokenizer.ggml.token_type", new int[] {2, 3, 3}));
        assertTrue(types.contains("token_type") && types.contains("3") && types.contains("5"), types);
        String scores = errorOf(new MiniGguf().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", FIVE)
                .put("tokenizer.ggml.scores", new String[] {"x"}));
        assertTrue(scores.contains("tokenizer.ggml.scores") && scores.contains("STRING"), scores);
        String bos = errorOf(new MiniGguf().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", FIVE)
                .put("tokenizer.ggml.bos_token_id", 7));
        assertTrue(bos.contains("bos_token_id") && bos.contains("7") && bos.contains("0..4"), bos);
        String merges = errorOf(new MiniGguf().put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.tokens", FIVE));
        assertTrue(merges.contains("tokenizer.ggml.merges") && merges.contains("missing"), merges);
        String pre = errorOf(new MiniGguf().put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.tokens", FIVE)
                .put("tokenizer.ggml.merges", new String[0]).put("tokenizer.ggml.pre", "qwen2"));
        assertTrue(pre.contains("'qwen2'") && pre.contains("llama-bpe"), pre);
    }

    @Test
    void spmWithoutByteTokensGivesUnknownPerCharacter() throws IOException {
        // Like babyllama's tok105: single characters, no <0xNN> tokens.
        String[] tokens = {"<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a"};
        Llama3.Tokenizer t = load(new MiniGguf().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", tokens)
                .put("tokenizer.ggml.scores", new float[] {0, 0, 0, -1, -2, -3, -0.5f})
                .put("tokenizer.ggml.token_type", new int[] {2, 3, 3, 1, 1, 1, 1}));
        // "ab é" → ▁ab▁é: ▁a merges (only piece of two symbols), then b, ▁, and é is unknown.
        assertArrayEquals(new int[] {6, 5, 3, 0}, t.encode("ab é"));
        assertEquals(" ab  \u2047 ", t.decode(t.encode("ab é")));
        assertArrayEquals(new int[] {1, 6}, t.encodeWithSpecialTokens("<s>a"));
        assertEquals(0, t.specialTokenId("<unk>"));
    }

    @Test
    void spmWithoutSpacePrefix() throws IOException {
        String[] tokens = {"<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a"};
        Llama3.Tokenizer t = load(new MiniGguf().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", tokens)
                .put("tokenizer.ggml.scores", new float[] {0, 0, 0, -1, -2, -3, -0.5f})
                .put("tokenizer.ggml.token_type", new int[] {2, 3, 3, 1, 1, 1, 1})
                .put("tokenizer.ggml.add_space_prefix", false));
        assertArrayEquals(new int[] {4, 5, 6}, t.encode("ab a"));
        // Without a dummy prefix the leading space after BOS is real text and stays.
        assertEquals(" a", t.decode(new int[] {1, 6}));
    }

    /** A byte-level vocabulary over a, b, c with random merges; pre "gpt-2" so whole words are not looked up. */
    @Test
    void heapBpeMatchesQuadraticBpe() throws IOException {
        Random rnd = new Random(7);
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(String.valueOf(ByteLevelBpeTokenizer.BYTE_TO_CHAR[b]));
        List<String> merges = new ArrayList<>();
        List<String> abc = new ArrayList<>(List.of("a", "b", "c"));
        while (merges.size() < 300) {
            String x = abc.get(rnd.nextInt(abc.size())), y = abc.get(rnd.nextInt(abc.size()));
            if (tokens.contains(x + y) || (x + y).length() > 12) continue;
            merges.add(x + " " + y);
            tokens.add(x + y);
            abc.add(x + y);
        }
        String[] types = new String[0];
        int[] tt = new int[tokens.size()];
        Arrays.fill(tt, 1);
        Llama3.Tokenizer t = load(new MiniGguf().put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.pre", "gpt-2")
                .put("tokenizer.ggml.tokens", tokens.toArray(types)).put("tokenizer.ggml.token_type", tt)
                .put("tokenizer.ggml.merges", merges.toArray(types)));
        Map<String, Integer> rank = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) rank.putIfAbsent(merges.get(i), i);
        for (int n = 0; n < 3000; n++) {
            StringBuilder sb = new StringBuilder();
            int len = 1 + rnd.nextInt(n < 2950 ? 40 : 1500);
            for (int i = 0; i < len; i++) sb.append("abc".charAt(rnd.nextInt(rnd.nextBoolean() ? 1 : 3)));
            String word = sb.toString();
            List<String> parts = new ArrayList<>();
            for (char c : word.toCharArray()) parts.add(String.valueOf(c));
            while (true) {
                int best = -1, bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < parts.size(); i++) {
                    Integer r = rank.get(parts.get(i) + " " + parts.get(i + 1));
                    if (r != null && r < bestRank) { bestRank = r; best = i; }
                }
                if (best < 0) break;
                parts.set(best, parts.get(best) + parts.remove(best + 1));
            }
            int[] expected = parts.stream().mapToInt(tokens::indexOf).toArray();
            assertArrayEquals(expected, t.encode(word), word);
            assertEquals(word, t.decode(expected));
        }
    }
}
