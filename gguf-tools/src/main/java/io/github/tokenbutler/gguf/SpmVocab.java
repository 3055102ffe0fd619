package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A SentencePiece vocabulary as GGUF stores it for tokenizer.ggml.model = "llama": pieces, scores and
 * token types (llama.cpp's llama_token_type, which has the same numbers as SentencePiece's
 * ModelProto.SentencePiece.Type), plus the special ids and whether a leading space is added.
 */
public record SpmVocab(String[] tokens, float[] scores, int[] types, int unkId, int bosId, int eosId,
                       boolean addSpacePrefix, boolean byteFallback) implements TokenizerKeys {

    public static final int TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;
    /** SentencePiece's whitespace marker (U+2581), which replaces spaces inside pieces. */
    public static final String SPACE = "\u2581";

    @Override public int size() { return tokens.length; }

    /** Writes the tokenizer.ggml.* keys. */
    @Override public void putInto(GgufWriter w) {
        w.putString("tokenizer.ggml.model", "llama");
        w.putArray("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens);
        w.putArray("tokenizer.ggml.scores", GGUFValueType.FLOAT32, scores);
        w.putArray("tokenizer.ggml.token_type", GGUFValueType.INT32, types);
        if (bosId >= 0) w.putU32("tokenizer.ggml.bos_token_id", bosId);
        if (eosId >= 0) w.putU32("tokenizer.ggml.eos_token_id", eosId);
        if (unkId >= 0) w.putU32("tokenizer.ggml.unknown_token_id", unkId);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
        w.putBool("tokenizer.ggml.add_space_prefix", addSpacePrefix);
    }

    // ---------------------------------------------------------------------------------------------
    // Synthetic vocabulary for random-weight models
    // ---------------------------------------------------------------------------------------------

    /** Characters of the synthetic single-character pieces, most "frequent" first. */
    private static final String SYNTHETIC_CHARS = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789.,!?'\"-:;()";
    private static final String LOWER = "etaoinshrdlcumwfgypbvkjxqz";

    /**
     * {@code <unk>}, {@code <s>}, {@code </s>}, the 256 byte tokens {@code <0x00>}..{@code <0xFF>} (so any
     * text can be encoded through byte fallback), then normal pieces with descending scores: "▁", the
     * single characters, "▁" + each character, then every lowercase string of length 2, 3, ... each
     * followed by its "▁" form, until {@code size} tokens. Every piece longer than one character is the
     * concatenation of two earlier pieces, so SentencePiece-style BPE merging can reach all of them.
     */
    public static SpmVocab synthetic(int size) {
        int fixed = 3 + 256;
        if (size < fixed + 1) throw new UserError("a synthetic vocabulary needs at least " + (fixed + 1) + " tokens (3 special + 256 bytes + 1 piece), got " + size);
        List<String> t = new ArrayList<>(size);
        t.add("<unk>");
        t.add("<s>");
        t.add("</s>");
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        List<String> pieces = new ArrayList<>();
        pieces.add(SPACE);
        for (char c : SYNTHETIC_CHARS.toCharArray()) pieces.add(String.valueOf(c));
        for (char c : SYNTHETIC_CHARS.toCharArray()) pieces.add(SPACE + c);
        int need = size - fixed;
        List<String> previous = new ArrayList<>();
        for (char c : LOWER.toCharArray()) previous.add(String.valueOf(c));
        while (pieces.size() < need) {
            List<String> next = new ArrayList<>();
            for (String p : previous) {
                for (char c : LOWER.toCharArray()) {
                    if (pieces.size() >= need) break;
                    String s = p + c;
                    next.add(s);
                    pieces.add(s);
                    if (pieces.size() < need) pieces.add(SPACE + s);
                }
                if (pieces.size() >= need) break;
            }
            previous = next;
        }
        t.addAll(pieces.subList(0, need));
        String[] tokens = t.toArray(String[]::new);
        float[] scores = new float[size];
        int[] types = new int[size];
        types[0] = TYPE_UNKNOWN;
        types[1] = TYPE_CONTROL;
        types[2] = TYPE_CONTROL;
        for (int i = 3; i < fixed; i++) types[i] = TYPE_BYTE;
        for (int i = fixed; i < size; i++) {
            types[i] = TYPE_NORMAL;
            scores[i] = -(i - fixed); // like a trained BPE vocabulary: earlier pieces merge first
        }
        return new SpmVocab(tokens, scores, types, 0, 1, 2, true, true);
    }

    // ---------------------------------------------------------------------------------------------
    // Reading a SentencePiece vocabulary: the .model protobuf or the .vocab text
    // ---------------------------------------------------------------------------------------------

    /** Reads {@code file} as a .model protobuf when it does not look like text, else as .vocab text. */
    public static SpmVocab read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw UserError.io("cannot read vocabulary " + file, e);
        }
        if (bytes.length == 0) throw new UserError("vocabulary " + file + " is empty");
        // A ModelProto starts with field 1 (pieces), length-delimited: tag byte 0x0A. A .vocab file starts with
        // a piece, which is never a newline; so 0x0A first means protobuf.
        if (bytes[0] == 0x0A) return readModelProto(file, bytes);
        return readVocabText(file, bytes);
    }

    /** piece TAB score per line (spm_export_vocab's format); types and special ids come from the piece text. */
    static SpmVocab readVocabText(Path file, byte[] bytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new UserError("vocabulary " + file + " is neither a SentencePiece .model (protobuf) nor .vocab text (piece TAB score per line): it is not valid UTF-8");
        }
        String[] lines = text.split("\n", -1);
        int n = lines.length;
        if (n > 0 && lines[n - 1].isEmpty()) n--;
        List<String> tokens = new ArrayList<>(n);
        float[] scores = new float[n];
        for (int i = 0; i < n; i++) {
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            int tab = line.lastIndexOf('\t');
            if (tab < 0) {
                throw new UserError("vocabulary " + file + " line " + (i + 1) + ": expected 'piece<TAB>score', got '" + abbreviate(line) + "'");
            }
            try {
                scores[i] = Float.parseFloat(line.substring(tab + 1).trim());
            } catch (NumberFormatException e) {
                throw new UserError("vocabulary " + file + " line " + (i + 1) + ": score '" + abbreviate(line.substring(tab + 1)) + "' is not a number");
            }
            tokens.add(line.substring(0, tab));
        }
        if (n == 0) throw new UserError("vocabulary " + file + " has no pieces");
        int[] types = new int[n];
        boolean byteFallback = false;
        for (int i = 0; i < n; i++) {
            String p = tokens.get(i);
            if (p.equals("<unk>")) types[i] = TYPE_UNKNOWN;
            else if (p.equals("<s>") || p.equals("</s>") || p.equals("<pad>")) types[i] = TYPE_CONTROL;
            else if (p.matches("<0x[0-9A-Fa-f]{2}>")) { types[i] = TYPE_BYTE; byteFallback = true; }
            else types[i] = TYPE_NORMAL;
        }
        String[] arr = tokens.toArray(String[]::new);
        checkUnique(file, arr);
        // The .vocab text does not record the normalizer; SentencePiece's default (add_dummy_prefix = true) applies.
        return new SpmVocab(arr, scores, types, tokens.indexOf("<unk>"), tokens.indexOf("<s>"), tokens.indexOf("</s>"), true, byteFallback);
    }

    /**
     * sentencepiece_model.proto: ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
     * NormalizerSpec normalizer_spec = 3; } SentencePiece { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
     * TrainerSpec { byte_fallback = 35; unk_id = 40 [0]; bos_id = 41 [1]; eos_id = 42 [2]; } NormalizerSpec { add_dummy_prefix = 3 [true]; }
     */
    static SpmVocab readModelProto(Path file, byte[] bytes) {
        List<String> tokens = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        int unk = 0, bos = 1, eos = 2;
        boolean addDummyPrefix = true, byteFallback = false;
        try {
            ProtoReader top = new ProtoReader(bytes, 0, bytes.length);
            while (top.more()) {
                int tag = top.tag();
                int field = tag >>> 3;
                if (field == 1 && (tag & 7) == 2) {
                    ProtoReader p = top.message();
                    String piece = null;
                    float score = 0f;
                    int type = TYPE_NORMAL;
                    while (p.more()) {
                        int t = p.tag();
                        switch (t) {
                            case (1 << 3) | 2 -> piece = p.string();
                            case (2 << 3) | 5 -> score = p.fixed32Float();
                            case (3 << 3) -> type = (int) p.varint();
                            default -> p.skip(t);
                        }
                    }
                    if (piece == null) throw new ProtoException("piece " + tokens.size() + " has no text");
                    if (type < TYPE_NORMAL || type > TYPE_BYTE) throw new ProtoException("piece " + tokens.size() + " has unknown type " + type);
                    tokens.add(piece);
                    scores.add(score);
                    types.add(type);
                } else if (field == 2 && (tag & 7) == 2) {
                    ProtoReader s = top.message();
                    while (s.more()) {
                        int t = s.tag();
                        switch (t) {
                            case (35 << 3) -> byteFallback = s.varint() != 0;
                            case (40 << 3) -> unk = (int) s.varint();
                            case (41 << 3) -> bos = (int) s.varint();
                            case (42 << 3) -> eos = (int) s.varint();
                            default -> s.skip(t);
                        }
                    }
                } else if (field == 3 && (tag & 7) == 2) {
                    ProtoReader s = top.message();
                    while (s.more()) {
                        int t = s.tag();
                        if (t == (3 << 3)) addDummyPrefix = s.varint() != 0;
                        else s.skip(t);
                    }
                } else {
                    top.skip(tag);
                }
            }
        } catch (ProtoException e) {
            throw new UserError("vocabulary " + file + " is not a valid SentencePiece .model (protobuf): " + e.getMessage());
        }
        if (tokens.isEmpty()) throw new UserError("vocabulary " + file + " is a protobuf without any pieces (not a SentencePiece model?)");
        int n = tokens.size();
        float[] sc = new float[n];
        int[] ty = new int[n];
        for (int i = 0; i < n; i++) { sc[i] = scores.get(i); ty[i] = types.get(i); }
        String[] arr = tokens.toArray(String[]::new);
        checkUnique(file, arr);
        // SentencePiece stores -1 for "no such token"; anything else must be a valid id.
        for (int[] id : new int[][] {{unk}, {bos}, {eos}}) {
            if (id[0] < -1 || id[0] >= n) throw new UserError("vocabulary " + file + ": special token id " + id[0] + " is outside 0.." + (n - 1));
        }
        return new SpmVocab(arr, sc, ty, unk, bos, eos, addDummyPrefix, byteFallback);
    }

    private static void checkUnique(Path file, String[] tokens) {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < tokens.length; i++) {
            if (!seen.add(tokens[i])) throw new UserError("vocabulary " + file + ": piece '" + abbreviate(tokens[i]) + "' (id " + i + ") appears twice");
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    private static final class ProtoException extends Exception {
        ProtoException(String message) { super(message); }
    }

    /** The little of the protobuf wire format a ModelProto needs: varints, fixed32, length-delimited fields. */
    private static final class ProtoReader {
        private final byte[] b;
        private int pos;
        private final int end;

        ProtoReader(byte[] b, int start, int end) { this.b = b; this.pos = start; this.end = end; }

        boolean more() { return pos < end; }

        long varint() throws ProtoException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw new ProtoException("truncated varint at byte " + pos);
                int x = b[pos++] & 0xFF;
                v |= (long) (x & 0x7F) << shift;
                if (x < 0x80) return v;
            }
            throw new ProtoException("varint longer than 10 bytes at byte " + pos);
        }

        int tag() throws ProtoException {
            long t = varint();
            if (t <= 0 || t > Integer.MAX_VALUE || (t >>> 3) == 0) throw new ProtoException("bad field tag " + t + " at byte " + pos);
            return (int) t;
        }

        private int length() throws ProtoException {
            long n = varint();
            if (n < 0 || n > end - pos) throw new ProtoException("field length " + n + " at byte " + pos + " runs past the end (" + (end - pos) + " bytes left)");
            return (int) n;
        }

        ProtoReader message() throws ProtoException {
            int n = length();
            ProtoReader r = new ProtoReader(b, pos, pos + n);
            pos += n;
            return r;
        }

        String string() throws ProtoException {
            int n = length();
            try {
                String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b, pos, n)).toString();
                pos += n;
                return s;
            } catch (CharacterCodingException e) {
                throw new ProtoException("a piece at byte " + pos + " is not valid UTF-8");
            }
        }

        float fixed32Float() throws ProtoException {
            if (end - pos < 4) throw new ProtoException("truncated float at byte " + pos);
            float f = ByteBuffer.wrap(b, pos, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
            pos += 4;
            return f;
        }

        void skip(int tag) throws ProtoException {
            switch (tag & 7) {
                case 0 -> varint();
                case 1 -> { if (end - pos < 8) throw new ProtoException("truncated fixed64 at byte " + pos); pos += 8; }
                case 2 -> {
                    int n = length(); // not `pos += length()`: that would add to the value of pos before the length was read
                    pos += n;
                }
                case 5 -> { if (end - pos < 4) throw new ProtoException("truncated fixed32 at byte " + pos); pos += 4; }
                default -> throw new ProtoException("unsupported wire type " + (tag & 7) + " at byte " + pos);
            }
        }
    }
}
