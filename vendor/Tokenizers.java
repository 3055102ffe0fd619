// Tokenizer implementations. Kept in this file while they are written; they move into Llama3.java
// (section 6) as package-private top-level classes, so no public class and no imports beyond Llama3's.
//
// Imports used below (all java.*): java.io.ByteArrayOutputStream, java.nio.charset.StandardCharsets,
// java.util.ArrayList, java.util.Arrays, java.util.Comparator, java.util.HashMap, java.util.List,
// java.util.Map, java.util.PriorityQueue.
package io.github.tokenbutler.runtime;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Builds a {@link Llama3.Tokenizer} from a GGUF's tokenizer.ggml.* metadata:
 * model "llama" → {@link SentencePieceTokenizer}, model "gpt2" → {@link ByteLevelBpeTokenizer}.
 */
final class Tokenizers {
    private Tokenizers() {}

    // llama.cpp's llama_token_type, which numbers the types as SentencePiece's ModelProto.SentencePiece.Type does.
    static final int TYPE_UNDEFINED = 0, TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3,
            TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;

    static final List<String> SUPPORTED_MODELS = List.of("llama", "gpt2");

    /** The tokenizer described by tokenizer.ggml.* metadata (model "llama" or "gpt2"); UserError otherwise. */
    static Llama3.Tokenizer fromGGUF(Llama3.GGUF gguf) {
        Object model = gguf.get("tokenizer.ggml.model");
        if (model == null) {
            throw new Llama3.UserError(gguf.path() + ": metadata key tokenizer.ggml.model is missing; expected one of "
                    + SUPPORTED_MODELS + " (the file has no tokenizer)");
        }
        if (!(model instanceof String name)) {
            throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.model should be a string, but it is " + gguf.valueTypes().get("tokenizer.ggml.model"));
        }
        return switch (name) {
            case "llama" -> SentencePieceTokenizer.fromGGUF(gguf);
            case "gpt2" -> ByteLevelBpeTokenizer.fromGGUF(gguf);
            default -> throw new Llama3.UserError(gguf.path() + ": unsupported tokenizer.ggml.model '" + name
                    + "'; supported: " + String.join(", ", SUPPORTED_MODELS) + " (SentencePiece BPE and byte-level BPE)");
        };
    }

    // ---------------------------------------------------------------------------------------------
    // Metadata helpers shared by both tokenizers
    // ---------------------------------------------------------------------------------------------

    static String[] tokens(Llama3.GGUF gguf) {
        Object v = gguf.get("tokenizer.ggml.tokens");
        if (v == null) {
            throw new Llama3.UserError(gguf.path() + ": metadata key tokenizer.ggml.tokens (the vocabulary) is missing; "
                    + "expected an array of strings");
        }
        if (!(v instanceof String[] a)) {
            throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.tokens should be an array of strings, but it is "
                    + describeType(gguf, "tokenizer.ggml.tokens"));
        }
        if (a.length == 0) throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.tokens is empty; expected at least one token");
        return a;
    }

    /** Token types, all NORMAL when the key is absent (some converters leave it out). */
    static int[] tokenTypes(Llama3.GGUF gguf, int n) {
        Object v = gguf.get("tokenizer.ggml.token_type");
        if (v == null) {
            int[] t = new int[n];
            Arrays.fill(t, TYPE_NORMAL);
            return t;
        }
        if (!(v instanceof int[] a)) {
            throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.token_type should be an array of 32-bit integers, but it is "
                    + describeType(gguf, "tokenizer.ggml.token_type"));
        }
        if (a.length != n) {
            throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.token_type has " + a.length + " entries, expected one per token ("
                    + n + ")");
        }
        return a;
    }

    static String describeType(Llama3.GGUF gguf, String key) {
        Llama3.GGUFValueType t = gguf.valueTypes().get(key);
        Llama3.GGUFValueType e = gguf.arrayElementTypes().get(key);
        return t == Llama3.GGUFValueType.ARRAY && e != null ? "an array of " + e : String.valueOf(t);
    }

    static boolean bool(Llama3.GGUF gguf, String key, boolean fallback) {
        Object v = gguf.get(key);
        if (v == null) return fallback;
        if (!(v instanceof Boolean b)) {
            throw new Llama3.UserError(gguf.path() + ": " + key + " should be a bool, but it is " + gguf.valueTypes().get(key));
        }
        return b;
    }

    /**
     * A token id key, or {@code fallback} when absent. Converters write "no such token" as UINT32 0xFFFFFFFF
     * (llama.cpp's LLAMA_TOKEN_NULL as unsigned), so that value also means absent.
     */
    static int tokenId(Llama3.GGUF gguf, String key, int fallback, int vocabSize) {
        long id = gguf.getLong(key, fallback);
        if (id == 0xFFFF_FFFFL || id == -1) return -1;
        if (id < 0 || id >= vocabSize) {
            throw new Llama3.UserError(gguf.path() + ": " + key + " is " + id + ", expected a token id in 0.." + (vocabSize - 1));
        }
        return (int) id;
    }

    /** The bytes of a sequence of pieces, streamed as {@link Llama3.Tokenizer#tokenBytes} gives them, as UTF-8 text. */
    static String decode(Llama3.Tokenizer t, int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int tok : tokens) {
            out.writeBytes(t.tokenBytes(prev, tok));
            prev = tok;
        }
        // Invalid UTF-8 (e.g. a sequence cut in the middle of a character) becomes U+FFFD.
        return out.toString(StandardCharsets.UTF_8);
    }

    static void checkId(Llama3.Tokenizer t, int token) {
        if (token < 0 || token >= t.vocabSize()) {
            throw new Llama3.UserError("token id " + token + " is out of range: expected 0.." + (t.vocabSize() - 1));
        }
    }

    /**
     * Splits text on the literal text of special tokens, leftmost first and, at one position, longest first
     * (llama.cpp's tokenizer_st_partition gives the same result except for overlapping special texts,
     * which no real vocabulary has). Each fragment is either raw text or one special token id.
     */
    static final class SpecialSplitter {
        /** One piece of the input: raw text (token == -1) or a special token. */
        record Fragment(String text, int token) {}

        private final Map<Character, String[]> byFirstChar = new HashMap<>();
        private final Map<String, Integer> idByText = new HashMap<>();

        /**
         * @param controls whether control and unknown tokens are matched (encodeWithSpecialTokens) or only
         *                 user-defined ones (plain encode: added tokens are always matched, as in llama.cpp and SentencePiece)
         */
        SpecialSplitter(String[] tokens, int[] types, boolean controls) {
            Map<Character, List<String>> lists = new HashMap<>();
            for (int i = 0; i < tokens.length; i++) {
                boolean special = types[i] == TYPE_USER_DEFINED
                        || (controls && (types[i] == TYPE_CONTROL || types[i] == TYPE_UNKNOWN));
                if (!special || tokens[i].isEmpty()) continue;
                // The first token with a given text wins, as in lookups by text elsewhere.
                if (idByText.putIfAbsent(tokens[i], i) == null) lists.computeIfAbsent(tokens[i].charAt(0), c -> new ArrayList<>()).add(tokens[i]);
            }
            for (Map.Entry<Character, List<String>> e : lists.entrySet()) {
                String[] a = e.getValue().toArray(new String[0]);
                Arrays.sort(a, Comparator.comparingInt(String::length).reversed());
                byFirstChar.put(e.getKey(), a);
            }
        }

        int idOf(String text) { return idByText.getOrDefault(text, -1); }

        List<Fragment> split(String text) {
            List<Fragment> out = new ArrayList<>();
            if (byFirstChar.isEmpty()) {
                out.add(new Fragment(text, -1));
                return out;
            }
            int start = 0;
            for (int i = 0; i < text.length(); ) {
                String[] candidates = byFirstChar.get(text.charAt(i));
                String match = null;
                if (candidates != null) {
                    for (String c : candidates) {
                        if (text.startsWith(c, i)) { match = c; break; }
                    }
                }
                if (match == null) { i++; continue; }
                if (i > start) out.add(new Fragment(text.substring(start, i), -1));
                out.add(new Fragment(match, idByText.get(match)));
                i += match.length();
                start = i;
            }
            if (start < text.length()) out.add(new Fragment(text.substring(start), -1));
            return out;
        }
    }

    /**
     * The pre-tokenizers as hand-written scanners (the regexes below, matched at one position, return where
     * the match ends). Written out rather than with java.util.regex because Java's \s is not Unicode's
     * White_Space unless UNICODE_CHARACTER_CLASS is on, which also changes \p{L}; and the scanners are
     * linear, where the regex backtracks over whitespace runs. Character classes follow llama.cpp's
     * unicode tables: \s = Unicode White_Space, \p{L} = categories L*, \p{N} = categories N*.
     */
    static final class PreTokenizer {
        private PreTokenizer() {}

        static boolean isWhitespace(int c) {
            return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                    || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
        }

        static boolean isLetter(int c) {
            if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
            return Character.isLetter(c);
        }

        static boolean isNumber(int c) {
            if (c < 0x80) return c >= '0' && c <= '9';
            int t = Character.getType(c);
            return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
        }

        /** Neither whitespace, letter nor number: the [^\s\p{L}\p{N}] class. */
        static boolean isOther(int c) { return !isWhitespace(c) && !isLetter(c) && !isNumber(c); }

        private static int cp(String s, int i) { return i < s.length() ? s.codePointAt(i) : -1; }

        private static int after(String s, int i) { return i + Character.charCount(s.codePointAt(i)); }

        private static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

        /**
         * Llama 3 (tokenizer.ggml.pre = llama-bpe):
         * {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+}
         * (alternatives tried in order, as a backtracking regex engine does).
         */
        static int nextLlama3(String s, int pos) {
            int len = s.length();
            int c = s.codePointAt(pos);
            int p1 = after(s, pos);
            int c1 = cp(s, p1);
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (c == '\'' && c1 >= 0) {
                int l1 = lower(c1);
                if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd') return p1 + 1;
                int l2 = lower(cp(s, p1 + 1));
                if ((l1 == 'r' && l2 == 'e') || (l1 == 'v' && l2 == 'e') || (l1 == 'l' && l2 == 'l')) return p1 + 2;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (isLetter(c) || (c != '\r' && c != '\n' && !isNumber(c) && c1 >= 0 && isLetter(c1))) {
                int i = isLetter(c) ? p1 : after(s, p1);
                while (i < len && isLetter(s.codePointAt(i))) i = after(s, i);
                return i;
            }
            // \p{N}{1,3}
            if (isNumber(c)) {
                int i = p1;
                for (int k = 1; k < 3 && i < len && isNumber(s.codePointAt(i)); k++) i = after(s, i);
                return i;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            if (isOther(c) || (c == ' ' && c1 >= 0 && isOther(c1))) {
                int i = isOther(c) ? p1 : after(s, p1);
                while (i < len && isOther(s.codePointAt(i))) i = after(s, i);
                while (i < len && (s.charAt(i) == '\r' || s.charAt(i) == '\n')) i++;
                return i;
            }
            return whitespace(s, pos, true);
        }

        /** GPT-2: {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}. */
        static int nextGpt2(String s, int pos) {
            int len = s.length();
            int c = s.codePointAt(pos);
            int p1 = after(s, pos);
            int c1 = cp(s, p1);
            if (c == '\'' && c1 >= 0) {
                if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return p1 + 1;
                int c2 = cp(s, p1 + 1);
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return p1 + 2;
            }
            int head = c == ' ' && c1 >= 0 ? c1 : c;
            int i = c == ' ' && c1 >= 0 ? after(s, p1) : p1;
            if (isLetter(head)) {
                while (i < len && isLetter(s.codePointAt(i))) i = after(s, i);
                return i;
            }
            if (isNumber(head)) {
                while (i < len && isNumber(s.codePointAt(i))) i = after(s, i);
                return i;
            }
            if (isOther(head)) {
                while (i < len && isOther(s.codePointAt(i))) i = after(s, i);
                return i;
            }
            return whitespace(s, pos, false);
        }

        /** At whitespace: {@code \s*[\r\n]+} (when newlines), then {@code \s+(?!\S)}, then {@code \s+}. */
        private static int whitespace(String s, int pos, boolean newlineRule) {
            int len = s.length();
            int end = pos, lastNewlineEnd = -1, count = 0, beforeLast = pos;
            while (end < len && isWhitespace(s.codePointAt(end))) {
                char ch = s.charAt(end);
                beforeLast = end;
                end = after(s, end);
                count++;
                if (ch == '\r' || ch == '\n') lastNewlineEnd = end;
            }
            if (count == 0) return after(s, pos); // unreachable: every character is a letter, number, other or whitespace
            // \s*[\r\n]+ : the run up to and including its last newline.
            if (newlineRule && lastNewlineEnd > 0) return lastNewlineEnd;
            // \s+(?!\S) : all but the last whitespace character when a non-space follows, so it joins the next word.
            if (count > 1 && end < len) return beforeLast;
            // \s+
            return end;
        }
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[16];
        private int size;

        void add(int v) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            a[size++] = v;
        }

        void addAll(int[] v) {
            if (size + v.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, size + v.length));
            System.arraycopy(v, 0, a, size, v.length);
            size += v.length;
        }

        boolean contains(int v) {
            for (int i = 0; i < size; i++) if (a[i] == v) return true;
            return false;
        }

        int size() { return size; }

        int[] toArray() { return Arrays.copyOf(a, size); }
    }
}

/**
 * SentencePiece BPE as llama.cpp's SPM tokenizer runs it (tokenizer.ggml.model = "llama"): Llama 2,
 * TinyStories/llama2.c vocabularies. Spaces become "▁" (U+2581) and, when add_space_prefix (default true),
 * a "▁" is put before the text; the text starts as one symbol per code point; the adjacent pair whose
 * concatenation is a vocabulary piece with the highest score is merged, leftmost first on ties, until no
 * pair is a piece. A symbol that is no piece becomes its UTF-8 bytes as {@code <0xNN>} tokens, or, in a
 * vocabulary without byte tokens, the unknown token (one per character).
 */
final class SentencePieceTokenizer implements Llama3.Tokenizer {
    static final char SPACE = '\u2581';
    // SentencePiece's default surface for the unknown piece (ModelProto.unk_surface " ⁇ ").
    private static final byte[] UNK_SURFACE = " \u2047 ".getBytes(StandardCharsets.UTF_8);

    private final String[] tokens;
    private final float[] scores;
    private final int[] types;
    /** Pieces that plain text can turn into: not control, unknown or byte tokens. */
    private final Map<String, Integer> pieceIds = new HashMap<>();
    /** byteIds[b] is the id of {@code <0xNN>}, or -1. */
    private final int[] byteIds = new int[256];
    private final byte[][] pieceBytes;
    private final Tokenizers.SpecialSplitter specials, userDefined;
    private final int bos, eos, unk;
    private final boolean addBos, addSpacePrefix;
    /** No piece has "▁" after another character, so text can be merged word by word (true for Llama 2 and TinyStories). */
    private final boolean wordsAreIndependent;
    private static final int CACHE_LIMIT = 1 << 17;
    /** Ids per word (a "▁" and what follows up to the next word), guarded by itself. */
    private final HashMap<String, int[]> cache = new HashMap<>();

    SentencePieceTokenizer(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk,
                           boolean addBos, boolean addSpacePrefix) {
        this.tokens = tokens;
        this.scores = scores;
        this.types = types;
        this.bos = bos;
        this.eos = eos;
        this.unk = unk;
        this.addBos = addBos;
        this.addSpacePrefix = addSpacePrefix;
        Arrays.fill(byteIds, -1);
        pieceBytes = new byte[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            int b = types[i] == Tokenizers.TYPE_BYTE ? parseByteToken(tokens[i]) : -1;
            if (b >= 0) {
                if (byteIds[b] < 0) byteIds[b] = i;
                pieceBytes[i] = new byte[] {(byte) b};
            } else if (types[i] == Tokenizers.TYPE_CONTROL) {
                // Control tokens (BOS, EOS, ...) mark structure; they contribute no text.
                pieceBytes[i] = new byte[0];
            } else if (types[i] == Tokenizers.TYPE_UNKNOWN) {
                pieceBytes[i] = UNK_SURFACE;
            } else {
                // Later duplicates do not replace the first piece with that text.
                pieceIds.putIfAbsent(tokens[i], i);
                pieceBytes[i] = tokens[i].replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
            }
        }
        this.specials = new Tokenizers.SpecialSplitter(tokens, types, true);
        this.userDefined = new Tokenizers.SpecialSplitter(tokens, types, false);
        boolean independent = true;
        for (String piece : pieceIds.keySet()) {
            for (int j = 1; j < piece.length() && independent; j++) {
                if (piece.charAt(j) == SPACE && piece.charAt(j - 1) != SPACE) independent = false;
            }
        }
        this.wordsAreIndependent = independent;
    }

    static SentencePieceTokenizer fromGGUF(Llama3.GGUF gguf) {
        String[] tokens = Tokenizers.tokens(gguf);
        int n = tokens.length;
        int[] types = Tokenizers.tokenTypes(gguf, n);
        Object s = gguf.get("tokenizer.ggml.scores");
        float[] scores;
        if (s == null) {
            scores = new float[n];
        } else if (s instanceof float[] a) {
            if (a.length != n) {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.scores has " + a.length + " entries, expected one per token (" + n + ")");
            }
            scores = a;
        } else {
            throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.scores should be an array of FLOAT32, but it is "
                    + Tokenizers.describeType(gguf, "tokenizer.ggml.scores"));
        }
        // Defaults as llama.cpp's for SPM vocabularies: <unk>=0, <s>=1, </s>=2.
        int unk = Tokenizers.tokenId(gguf, "tokenizer.ggml.unknown_token_id", n > 0 ? 0 : -1, n);
        int bos = Tokenizers.tokenId(gguf, "tokenizer.ggml.bos_token_id", n > 1 ? 1 : -1, n);
        int eos = Tokenizers.tokenId(gguf, "tokenizer.ggml.eos_token_id", n > 2 ? 2 : -1, n);
        boolean addBos = Tokenizers.bool(gguf, "tokenizer.ggml.add_bos_token", true) && bos >= 0;
        boolean addSpacePrefix = Tokenizers.bool(gguf, "tokenizer.ggml.add_space_prefix", true);
        return new SentencePieceTokenizer(tokens, scores, types, bos, eos, unk, addBos, addSpacePrefix);
    }

    /** The byte of a "<0xNN>" piece, or -1. */
    static int parseByteToken(String t) {
        if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') return -1;
        int hi = Character.digit(t.charAt(3), 16), lo = Character.digit(t.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    @Override public int[] encode(String text) { return encode(text, userDefined); }

    @Override public int[] encodeWithSpecialTokens(String text) { return encode(text, specials); }

    private int[] encode(String text, Tokenizers.SpecialSplitter splitter) {
        Tokenizers.IntList out = new Tokenizers.IntList();
        // As llama.cpp: the space prefix goes before the first text fragment and before text that follows a special token.
        boolean prevSpecial = true;
        for (Tokenizers.SpecialSplitter.Fragment f : splitter.split(text)) {
            if (f.token() >= 0) {
                out.add(f.token());
                prevSpecial = true;
            } else {
                encodeText(f.text(), prevSpecial, out);
                prevSpecial = false;
            }
        }
        return out.toArray();
    }

    private void encodeText(String raw, boolean prefixSpace, Tokenizers.IntList out) {
        if (raw.isEmpty()) return; // "" encodes to nothing, as SentencePiece and llama.cpp do (no lone dummy prefix)
        String text = ((prefixSpace && addSpacePrefix) ? " " + raw : raw).replace(' ', SPACE);
        if (!wordsAreIndependent) {
            encodeSegment(text, out);
            return;
        }
        // Cut before every "▁" that follows another character: no piece spans such a cut (checked at load), so
        // the segments merge independently and give what merging the whole text would; repeated words come
        // from the cache.
        int start = 0;
        for (int i = 1; i <= text.length(); i++) {
            if (i < text.length() && (text.charAt(i) != SPACE || text.charAt(i - 1) == SPACE)) continue;
            String segment = text.substring(start, i);
            int[] ids;
            synchronized (cache) {
                ids = cache.get(segment);
            }
            if (ids == null) {
                Tokenizers.IntList segmentIds = new Tokenizers.IntList();
                encodeSegment(segment, segmentIds);
                ids = segmentIds.toArray();
                synchronized (cache) {
                    if (cache.size() >= CACHE_LIMIT) cache.clear(); // bounded memory on endless input
                    cache.put(segment, ids);
                }
            }
            out.addAll(ids);
            start = i;
        }
    }

    /** Plain text merged as one segment, as llama.cpp does: what the word-by-word path must equal (for tests). */
    int[] encodeWithoutWordCuts(String raw) {
        Tokenizers.IntList out = new Tokenizers.IntList();
        if (!raw.isEmpty()) encodeSegment((addSpacePrefix ? " " + raw : raw).replace(' ', SPACE), out);
        return out.toArray();
    }

    boolean wordsAreIndependent() { return wordsAreIndependent; }

    /** SentencePiece BPE over text that already has "▁" for spaces. */
    private void encodeSegment(String text, Tokenizers.IntList out) {
        // Symbols: one per code point, in a doubly linked list over the text.
        int cap = text.length();
        int[] start = new int[cap], len = new int[cap], prev = new int[cap], next = new int[cap];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cc = Character.charCount(text.codePointAt(i));
            start[n] = i;
            len[n] = cc;
            prev[n] = n - 1;
            next[n] = i + cc < text.length() ? n + 1 : -1;
            n++;
            i += cc;
        }

        // Candidate merges, highest score first, then leftmost (llama.cpp's llm_bigram_spm ordering).
        PriorityQueue<Bigram> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) tryAddBigram(text, start, len, i, i + 1, queue);
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            // Stale when either side was merged away or grew since the candidate was queued.
            if (len[b.left] == 0 || len[b.right] == 0 || len[b.left] + len[b.right] != b.size) continue;
            len[b.left] += len[b.right];
            len[b.right] = 0;
            next[b.left] = next[b.right];
            if (next[b.right] >= 0) prev[next[b.right]] = b.left;
            if (prev[b.left] >= 0) tryAddBigram(text, start, len, prev[b.left], b.left, queue);
            if (next[b.left] >= 0) tryAddBigram(text, start, len, b.left, next[b.left], queue);
        }

        for (int i = 0; i >= 0 && n > 0; i = next[i]) {
            String piece = text.substring(start[i], start[i] + len[i]);
            Integer id = pieceIds.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            // Only single characters can be left unmatched: every merge makes a vocabulary piece.
            byte[] bytes = piece.getBytes(StandardCharsets.UTF_8); // "▁" stays "▁" (E2 96 81), as in llama.cpp
            boolean allBytes = true;
            for (byte x : bytes) allBytes &= byteIds[x & 0xFF] >= 0;
            if (allBytes) {
                for (byte x : bytes) out.add(byteIds[x & 0xFF]);
            } else if (unk >= 0) {
                out.add(unk);
            } else {
                throw new Llama3.UserError("cannot encode the character '" + piece + "' (U+" + Integer.toHexString(piece.codePointAt(0)).toUpperCase()
                        + "): the vocabulary has neither a piece, byte tokens nor an unknown token for it");
            }
        }
    }

    private void tryAddBigram(String text, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        int size = len[left] + len[right];
        Integer id = pieceIds.get(text.substring(start[left], start[left] + size));
        if (id != null) queue.add(new Bigram(left, right, scores[id], size));
    }

    private record Bigram(int left, int right, float score, int size) implements Comparable<Bigram> {
        @Override public int compareTo(Bigram o) {
            int c = Float.compare(o.score, score);
            return c != 0 ? c : Integer.compare(left, o.left);
        }
    }

    @Override public String decode(int[] tokens) { return Tokenizers.decode(this, tokens); }

    @Override public byte[] tokenBytes(int previous, int token) {
        Tokenizers.checkId(this, token);
        byte[] b = pieceBytes[token];
        // The dummy prefix space is not part of the text: drop it from the first piece after BOS (llama2.c, llama.cpp).
        if (previous == bos && bos >= 0 && addSpacePrefix && b.length > 0 && b[0] == ' ' && types[token] != Tokenizers.TYPE_BYTE) {
            return Arrays.copyOfRange(b, 1, b.length);
        }
        return b;
    }

    @Override public int vocabSize() { return tokens.length; }
    @Override public int bosId() { return bos; }
    @Override public int eosId() { return eos; }
    @Override public int[] stopIds() { return eos >= 0 ? new int[] {eos} : new int[0]; }
    @Override public int specialTokenId(String text) { return specials.idOf(text); }
    @Override public boolean addBos() { return addBos; }
    int unknownId() { return unk; }
}

/**
 * Byte-level BPE (tokenizer.ggml.model = "gpt2") as llama.cpp runs it for Llama 3: the text is split by
 * the pre-tokenizer regex; each piece's UTF-8 bytes are written as GPT-2's printable stand-in characters;
 * a piece that is a whole vocabulary token becomes that token (llama.cpp's ignore_merges for llama-bpe,
 * as tiktoken does); otherwise the adjacent pair with the lowest merge rank (tokenizer.ggml.merges order)
 * is merged, leftmost first on ties, until no pair has a merge.
 */
final class ByteLevelBpeTokenizer implements Llama3.Tokenizer {
    /** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100.. in byte order. */
    static final char[] BYTE_TO_CHAR = new char[256];
    static final int[] CHAR_TO_BYTE = new int[324];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    /** The pre-tokenizers supported, by tokenizer.ggml.pre value. */
    enum Pre { LLAMA3, GPT2 }

    private static final int CACHE_LIMIT = 1 << 17;

    private final String[] tokens;
    private final int[] types;
    /** Token text → id (the first id when a text repeats). */
    private final Map<String, Integer> ids;
    private final int[] byteIds = new int[256];
    private final PairRanks merges;
    private final byte[][] tokenBytes;
    private final Tokenizers.SpecialSplitter specials, userDefined;
    private final Pre pre;
    private final boolean ignoreMerges;
    private final int bos, eos;
    private final int[] stopIds;
    private final boolean addBos;
    /** Ids per pre-token: text repeats its words, so most pre-tokens skip BPE. Guarded by itself. */
    private final HashMap<String, int[]> cache = new HashMap<>();

    ByteLevelBpeTokenizer(String[] tokens, int[] types, String[] mergeList, Pre pre, int bos, int eos, int[] extraStops,
                          boolean addBos, String where) {
        this.tokens = tokens;
        this.types = types;
        this.pre = pre;
        this.ignoreMerges = pre == Pre.LLAMA3;
        this.bos = bos;
        this.eos = eos;
        this.addBos = addBos;
        Map<String, Integer> allIds = new HashMap<>(tokens.length * 2);
        this.ids = allIds;
        tokenBytes = new byte[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            allIds.putIfAbsent(tokens[i], i);
            int t = types[i];
            if (t == Tokenizers.TYPE_CONTROL || t == Tokenizers.TYPE_UNKNOWN) {
                tokenBytes[i] = new byte[0]; // structure, not text
            } else if (t == Tokenizers.TYPE_USER_DEFINED) {
                tokenBytes[i] = tokens[i].getBytes(StandardCharsets.UTF_8); // added tokens are stored as plain text
            } else {
                tokenBytes[i] = unmapBytes(tokens[i]);
            }
        }
        for (int b = 0; b < 256; b++) {
            byteIds[b] = textId(String.valueOf(BYTE_TO_CHAR[b]));
        }
        merges = new PairRanks(mergeList.length);
        for (int r = 0; r < mergeList.length; r++) {
            String m = mergeList[r];
            // The parts are separated by one space; a part never holds a space (bytes are mapped to printable chars).
            int sp = m.indexOf(' ', 1);
            if (sp < 0) throw new Llama3.UserError(where + ": tokenizer.ggml.merges entry " + r + " is '" + m + "', expected two tokens separated by a space");
            Integer a = allIds.get(m.substring(0, sp)), b = allIds.get(m.substring(sp + 1)), ab = allIds.get(m.substring(0, sp) + m.substring(sp + 1));
            // A merge whose parts or result are not tokens can never be applied to token ids: skip it.
            if (a == null || b == null || ab == null) continue;
            merges.putIfAbsent(a, b, r, ab);
        }
        this.specials = new Tokenizers.SpecialSplitter(tokens, types, true);
        this.userDefined = new Tokenizers.SpecialSplitter(tokens, types, false);
        Tokenizers.IntList stops = new Tokenizers.IntList();
        if (eos >= 0) stops.add(eos);
        for (int s : extraStops) if (s >= 0 && !stops.contains(s)) stops.add(s);
        this.stopIds = stops.toArray();
    }

    static ByteLevelBpeTokenizer fromGGUF(Llama3.GGUF gguf) {
        String where = gguf.path().toString();
        String[] tokens = Tokenizers.tokens(gguf);
        int n = tokens.length;
        int[] types = Tokenizers.tokenTypes(gguf, n);
        Object m = gguf.get("tokenizer.ggml.merges");
        if (m == null) throw new Llama3.UserError(where + ": tokenizer.ggml.merges is missing; a gpt2 (byte-level BPE) vocabulary needs its merges");
        if (!(m instanceof String[] mergeList)) {
            throw new Llama3.UserError(where + ": tokenizer.ggml.merges should be an array of strings, but it is " + Tokenizers.describeType(gguf, "tokenizer.ggml.merges"));
        }
        Object p = gguf.get("tokenizer.ggml.pre");
        if (p != null && !(p instanceof String)) {
            throw new Llama3.UserError(where + ": tokenizer.ggml.pre should be a string, but it is " + gguf.valueTypes().get("tokenizer.ggml.pre"));
        }
        Pre pre = switch (p == null ? "default" : (String) p) {
            // A llama-architecture file with a gpt2 vocabulary is a Llama 3 model; files from before llama.cpp wrote
            // tokenizer.ggml.pre (or that say "default") are Llama 3 too, so they get its pre-tokenizer.
            case "llama-bpe", "llama3", "smaug-bpe", "default" -> Pre.LLAMA3;
            case "gpt-2" -> Pre.GPT2;
            default -> throw new Llama3.UserError(where + ": unsupported tokenizer.ggml.pre '" + p
                    + "'; supported: llama-bpe (Llama 3; also llama3, smaug-bpe, default) and gpt-2");
        };
        int bos = Tokenizers.tokenId(gguf, "tokenizer.ggml.bos_token_id", -1, n);
        int eos = Tokenizers.tokenId(gguf, "tokenizer.ggml.eos_token_id", -1, n);
        int eot = Tokenizers.tokenId(gguf, "tokenizer.ggml.eot_token_id", -1, n);
        int eom = Tokenizers.tokenId(gguf, "tokenizer.ggml.eom_token_id", -1, n);
        int[] extra = {eot, eom, controlId(tokens, types, "<|eot_id|>"), controlId(tokens, types, "<|eom_id|>")};
        boolean addBos = Tokenizers.bool(gguf, "tokenizer.ggml.add_bos_token", true) && bos >= 0;
        return new ByteLevelBpeTokenizer(tokens, types, mergeList, pre, bos, eos, extra, addBos, where);
    }

    private static int controlId(String[] tokens, int[] types, String text) {
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == Tokenizers.TYPE_CONTROL && tokens[i].equals(text)) return i;
        }
        return -1;
    }

    /** The id of a token that text can become (not control or unknown: those come only from special-token parsing), or -1. */
    private int textId(String text) {
        Integer id = ids.get(text);
        return id == null || types[id] == Tokenizers.TYPE_CONTROL || types[id] == Tokenizers.TYPE_UNKNOWN ? -1 : id;
    }

    /** A token's text (GPT-2 stand-in characters) back to bytes; characters outside the map are taken as UTF-8 text. */
    static byte[] unmapBytes(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp < CHAR_TO_BYTE.length && CHAR_TO_BYTE[cp] >= 0) out.write(CHAR_TO_BYTE[cp]);
            else out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    @Override public int[] encode(String text) { return encode(text, userDefined); }

    @Override public int[] encodeWithSpecialTokens(String text) { return encode(text, specials); }

    private int[] encode(String text, Tokenizers.SpecialSplitter splitter) {
        Tokenizers.IntList out = new Tokenizers.IntList();
        for (Tokenizers.SpecialSplitter.Fragment f : splitter.split(text)) {
            if (f.token() >= 0) out.add(f.token());
            else encodeText(f.text(), out);
        }
        return out.toArray();
    }

    private void encodeText(String text, Tokenizers.IntList out) {
        int start = 0;
        while (start < text.length()) {
            int end = pre == Pre.LLAMA3 ? Tokenizers.PreTokenizer.nextLlama3(text, start) : Tokenizers.PreTokenizer.nextGpt2(text, start);
            String word = text.substring(start, end);
            int[] wordIds;
            synchronized (cache) {
                wordIds = cache.get(word);
            }
            if (wordIds == null) {
                wordIds = encodeWord(word);
                synchronized (cache) {
                    // A bound keeps memory flat on endless input; the common words come back quickly.
                    if (cache.size() >= CACHE_LIMIT) cache.clear();
                    cache.put(word, wordIds);
                }
            }
            out.addAll(wordIds);
            start = end;
        }
    }

    /** One pre-token to ids. */
    int[] encodeWord(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        if (ignoreMerges) {
            char[] mapped = new char[bytes.length];
            for (int i = 0; i < bytes.length; i++) mapped[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
            int id = textId(new String(mapped));
            if (id >= 0) return new int[] {id};
        }
        int n = bytes.length;
        int[] sym = new int[n];
        int missing = 0;
        for (int i = 0; i < n; i++) {
            sym[i] = byteIds[bytes[i] & 0xFF];
            if (sym[i] < 0) missing++;
        }
        if (missing > 0) {
            // A vocabulary without some byte cannot represent it: llama.cpp drops such bytes, and so do we.
            int[] kept = new int[n - missing];
            int k = 0;
            for (int s : sym) if (s >= 0) kept[k++] = s;
            sym = kept;
            n = k;
        }
        if (n <= 1) return sym;
        return bpe(sym, n);
    }

    /**
     * Merges a word's symbols by merge rank with a heap of candidate pairs. Entries are (rank, left position)
     * packed in a long so the smallest is the lowest rank, then the leftmost; an entry is stale when the
     * pair at that position has changed since it was queued. O(n log n) on long words.
     */
    private int[] bpe(int[] id, int n) {
        int[] next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            int r = merges.rank(id[i], id[i + 1]);
            if (r >= 0) heap.push(((long) r << 32) | i);
        }
        int live = n;
        while (!heap.isEmpty()) {
            long e = heap.pop();
            int r = (int) (e >>> 32), left = (int) e;
            int right = next[left];
            if (id[left] < 0 || right < 0 || merges.rank(id[left], id[right]) != r) continue; // stale
            id[left] = merges.result(r);
            id[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            live--;
            if (prev[left] >= 0) {
                int rp = merges.rank(id[prev[left]], id[left]);
                if (rp >= 0) heap.push(((long) rp << 32) | prev[left]);
            }
            if (next[left] >= 0) {
                int rn = merges.rank(id[left], id[next[left]]);
                if (rn >= 0) heap.push(((long) rn << 32) | left);
            }
        }
        int[] out = new int[live];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) out[k++] = id[i];
        return out;
    }

    @Override public String decode(int[] tokens) { return Tokenizers.decode(this, tokens); }

    @Override public byte[] tokenBytes(int previous, int token) {
        Tokenizers.checkId(this, token);
        return tokenBytes[token];
    }

    @Override public int vocabSize() { return tokens.length; }
    @Override public int bosId() { return bos; }
    @Override public int eosId() { return eos; }
    @Override public int[] stopIds() { return stopIds.clone(); }
    @Override public int specialTokenId(String text) { return specials.idOf(text); }
    @Override public boolean addBos() { return addBos; }
    int mergeCount() { return merges.size(); }
    Pre preTokenizer() { return pre; }

    /** Merge table: (left id, right id) → rank, open addressing on a packed long key; result id per rank. */
    static final class PairRanks {
        private final long[] keys;
        private final int[] ranks;
        private final int[] results;
        private final int mask;
        private int size;

        PairRanks(int expected) {
            int cap = Integer.highestOneBit(Math.max(16, expected * 2) - 1) << 1;
            keys = new long[cap];
            ranks = new int[cap];
            mask = cap - 1;
            results = new int[Math.max(1, expected)];
            Arrays.fill(keys, -1L);
        }

        private static long key(int a, int b) { return ((long) a << 32) | (b & 0xFFFF_FFFFL); }

        private int slot(long k) {
            long h = k * 0x9E37_79B9_7F4A_7C15L;
            return (int) (h ^ (h >>> 32)) & mask;
        }

        void putIfAbsent(int a, int b, int rank, int result) {
            long k = key(a, b);
            int s = slot(k);
            while (keys[s] != -1L) {
                if (keys[s] == k) return; // the first (lowest-ranked) duplicate wins
                s = (s + 1) & mask;
            }
            keys[s] = k;
            ranks[s] = rank;
            results[rank] = result;
            size++;
        }

        /** The rank of merging a and b, or -1. */
        int rank(int a, int b) {
            long k = key(a, b);
            int s = slot(k);
            while (true) {
                long x = keys[s];
                if (x == k) return ranks[s];
                if (x == -1L) return -1;
                s = (s + 1) & mask;
            }
        }

        int result(int rank) { return results[rank]; }
        int size() { return size; }
    }

    /** A binary min-heap of longs. */
    static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) { a = new long[Math.max(4, capacity)]; }

        boolean isEmpty() { return size == 0; }

        void push(long v) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            int i = size++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= v) break;
                a[i] = a[p];
                i = p;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long last = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) break;
                if (c + 1 < size && a[c + 1] < a[c]) c++;
                if (a[c] >= last) break;
                a[i] = a[c];
                i = c;
            }
            if (size > 0) a[i] = last;
            return top;
        }
    }
}
