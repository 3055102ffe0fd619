package io.github.tokenbutler.corpus;

import io.github.tokenbutler.runtime.Llama3.Tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * A character-level tokenizer for unit tests: one token per UTF-16 char (id = char + 3, 0 when out of
 * range), BOS 1, EOS 2. Word boundaries are always clean, as with SentencePiece vocabularies.
 */
public final class FakeTokenizer implements Tokenizer {
    static final int VOCAB = 512;

    @Override public int[] encode(String text) {
        int[] out = new int[text.length()];
        for (int i = 0; i < text.length(); i++) {
            int id = text.charAt(i) + 3;
            out[i] = id < VOCAB ? id : 0;
        }
        return out;
    }

    @Override public int[] encodeWithSpecialTokens(String text) { return encode(text); }

    @Override public String decode(int[] tokens) {
        StringBuilder sb = new StringBuilder();
        for (int t : tokens) sb.append(t >= 3 ? (char) (t - 3) : '?');
        return sb.toString();
    }

    @Override public byte[] tokenBytes(int previous, int token) { return decode(new int[]{token}).getBytes(StandardCharsets.UTF_8); }
    @Override public int vocabSize() { return VOCAB; }
    @Override public int bosId() { return 1; }
    @Override public int eosId() { return 2; }
    @Override public int[] stopIds() { return new int[]{2}; }
    @Override public int specialTokenId(String text) { return -1; }
    @Override public boolean addBos() { return true; }
}
