package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * `convert-tiktoken RANKS OUT.gguf`: a tiktoken BPE rank file (one `base64(token bytes) rank` per line, as
 * Meta ships the Llama 3 tokenizer.model) → a vocabulary-only GGUF (no tensors) that the runtime and
 * llama.cpp read as a `gpt2` byte-level BPE vocabulary with the Llama 3 pre-tokenizer.
 *
 * <p>What is written and why:
 * <ul>
 * <li>tokens: the ranked tokens, id = rank, each token's bytes written with GPT-2's byte→character map
 *     (the form tokenizer.ggml.tokens uses for byte-level BPE), then 256 special tokens with ids
 *     n..n+255 (n = number of ranks; 128000 for Llama 3) named as in Llama 3.1.</li>
 * <li>merges: a rank file has no merge list, so it is recovered as Hugging Face's conversion of the Llama 3
 *     tokenizer does it (see {@link #recoverMerges}): every split of a token into two tokens is a merge,
 *     listed in the rank order of the token it makes, so merge-list BPE applies them in the order
 *     tiktoken's rank-based BPE would.</li>
 * <li>token_type: 1 (normal) for ranked tokens, 3 (control) for the special tokens.</li>
 * <li>bos = &lt;|begin_of_text|&gt;, eos = &lt;|end_of_text|&gt;, as in Meta's base-model configuration;
 *     instruct models end turns with &lt;|eot_id|&gt;, which the runtime's tokenizer adds to its stop ids
 *     on its own, so the file need not pick one model's convention.</li>
 * </ul>
 */
public final class ConvertTiktokenCommand implements Command {
    /** The number of special tokens Llama 3 reserves after the ranked tokens. */
    public static final int SPECIAL_COUNT = 256;
    static final int TYPE_NORMAL = 1, TYPE_CONTROL = 3;

    @Override public String name() { return "convert-tiktoken"; }

    @Override public String summary() { return "tiktoken rank file (Llama 3 tokenizer.model) -> vocabulary GGUF"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler convert-tiktoken RANKS OUT.gguf [--name NAME]
                  RANKS      tiktoken BPE rank file: one "base64(token bytes) rank" per line, ranks 0, 1, 2, ...
                             (e.g. Meta's Llama 3 tokenizer.model, 128000 lines)
                  OUT.gguf   the vocabulary-only GGUF to write (no tensors): tokenizer.ggml.model gpt2,
                             pre-tokenizer llama-bpe, merges recovered from the ranks, and the 256 Llama 3
                             special tokens after the ranked ones (<|begin_of_text|> = first special = BOS,
                             <|end_of_text|> = EOS, <|eot_id|>, <|start_header_id|>, ...)
                  --name     general.name (default: the rank file's name without extension)
                """;
    }

    @Override public int run(Args args) {
        String name = args.string("name");
        args.finish(2);
        Path ranks = args.existingPositional(0, "RANKS (the tiktoken rank file)");
        Path out = args.outputPositional(1, "OUT.gguf (the file to write)");
        if (name == null) {
            String f = ranks.getFileName().toString();
            int dot = f.lastIndexOf('.');
            name = dot > 0 ? f.substring(0, dot) : f;
        }
        long t0 = System.nanoTime();
        Vocabulary v;
        try (ProgressBar bar = rankProgress(ranks)) {
            v = convert(ranks, out, name, bar);
            bar.finish();
        }
        System.out.printf("wrote %s: %d tokens (%d ranked + %d special), %d merges, bos %d, eos %d (%.1f s)%n", out,
                v.tokens().length, v.rankedCount(), SPECIAL_COUNT, v.merges().length, v.bosId(), v.eosId(),
                (System.nanoTime() - t0) / 1e9);
        if (v.unsplittable() > 0) {
            System.out.println("note: " + v.unsplittable() + " multi-byte tokens cannot be split into two tokens; "
                    + "they are produced only when a whole pre-token equals them");
        }
        return 0;
    }

    /**
     * The vocabulary as written: tokens in GGUF (GPT-2 character) form, their types and the merges;
     * unsplittable counts multi-byte tokens with no split into two tokens, which no merge makes (BPE reaches
     * them only when a whole pre-token is that token).
     */
    public record Vocabulary(String[] tokens, int[] types, String[] merges, int rankedCount, int bosId, int eosId, int unsplittable) {}

    /**
     * A bar on a terminal (nothing in a log) over the ranks, read once and split once, each half of the work:
     * about 3 s each for Llama 3's 128000 (writing takes well under a second). The count is the file's lines,
     * known before it is parsed.
     */
    private static ProgressBar rankProgress(Path ranks) {
        long lines = 0;
        try {
            for (byte b : Files.readAllBytes(ranks)) if (b == '\n') lines++;
        } catch (IOException e) {
            throw UserError.io("convert-tiktoken: cannot read " + ranks, e);
        }
        return ProgressBar.on(System.err, "convert-tiktoken", Math.max(1, lines), ProgressBar.Unit.of("rank", "ranks"), 0)
                .weighted(2 * Math.max(1, lines));
    }

    /** Reads a rank file, recovers its merges and writes the GGUF atomically. */
    public static Vocabulary convert(Path ranksFile, Path out, String name) { return convert(ranksFile, out, name, null); }

    /** {@link #convert(Path, Path, String)}, telling bar (may be null) how many ranks are read, then split. */
    public static Vocabulary convert(Path ranksFile, Path out, String name, ProgressBar bar) {
        Ranks read = readRanks(ranksFile, bar == null ? null : r -> bar.update(r, r, "reading"));
        int n = read.tokens().size();
        Vocabulary v = vocabulary(read, ranksFile.toString(), bar == null ? null : r -> bar.update(r, n + r, "recovering merges"));
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", name);
        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "llama-bpe");
        w.putArray("tokenizer.ggml.tokens", GGUFValueType.STRING, v.tokens());
        w.putArray("tokenizer.ggml.token_type", GGUFValueType.INT32, v.types());
        w.putArray("tokenizer.ggml.merges", GGUFValueType.STRING, v.merges());
        w.putU32("tokenizer.ggml.bos_token_id", v.bosId());
        w.putU32("tokenizer.ggml.eos_token_id", v.eosId());
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
        w.write(out);
        return v;
    }

    /** The Llama 3.1 special token names, in id order after the ranked tokens (Meta's tokenizer.py). */
    public static String[] llama3SpecialTokens() {
        String[] s = new String[SPECIAL_COUNT];
        String[] named = {
                "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
        System.arraycopy(named, 0, s, 0, named.length);
        // The remaining 245 continue the reserved numbering: <|reserved_special_token_3|> .. <|reserved_special_token_247|>.
        for (int i = named.length; i < SPECIAL_COUNT; i++) s[i] = "<|reserved_special_token_" + (i - named.length + 3) + "|>";
        return s;
    }

    // ---------------------------------------------------------------------------------------------
    // Rank file
    // ---------------------------------------------------------------------------------------------

    /**
     * The tokens of a rank file, index = rank. Blank lines are skipped (as tiktoken's loader does); every
     * other line must be `base64 rank` with ranks 0, 1, 2, ... in file order and no token twice; all 256
     * single bytes must be present (byte-level BPE starts from bytes). Problems are UserErrors with the line number.
     */
    public static Ranks readRanks(Path file) { return readRanks(file, null); }

    /** {@link #readRanks(Path)}, telling afterRank (may be null) how many ranks are read, every 1024. */
    public static Ranks readRanks(Path file, IntConsumer afterRank) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(file);
        } catch (IOException e) {
            throw UserError.io("convert-tiktoken: cannot read " + file, e);
        }
        String text = new String(raw, StandardCharsets.ISO_8859_1); // base64 and digits are ASCII; anything else is reported as is
        List<byte[]> tokens = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        Map<String, Integer> lineOf = new HashMap<>();
        int lineNo = 0;
        for (int start = 0; start < text.length(); ) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            String line = text.substring(start, end);
            start = end + 1;
            lineNo++;
            if (line.endsWith("\r")) line = line.substring(0, line.length() - 1);
            if (line.isBlank()) continue;
            String where = "convert-tiktoken: " + file + " line " + lineNo + ": ";
            String[] f = line.trim().split("[ \t]+");
            if (f.length != 2) {
                throw new UserError(where + "expected 'base64(token bytes) rank', found '" + shorten(line) + "'"
                        + (lineNo == 1 ? " (is this a tiktoken rank file?)" : ""));
            }
            byte[] bytes;
            try {
                bytes = Base64.getDecoder().decode(f[0]);
            } catch (IllegalArgumentException e) {
                throw new UserError(where + "'" + shorten(f[0]) + "' is not valid base64 (" + e.getMessage() + ")");
            }
            if (bytes.length == 0) throw new UserError(where + "the token is empty (base64 '" + f[0] + "'); every token needs at least one byte");
            int rank;
            try {
                rank = Integer.parseInt(f[1]);
            } catch (NumberFormatException e) {
                throw new UserError(where + "rank '" + shorten(f[1]) + "' is not an integer");
            }
            if (rank != tokens.size()) {
                throw new UserError(where + "rank is " + rank + ", expected " + tokens.size()
                        + " (ranks must be contiguous: 0, 1, 2, ... in file order)");
            }
            String key = new String(bytes, StandardCharsets.ISO_8859_1);
            Integer before = lineOf.putIfAbsent(key, lineNo);
            if (before != null) throw new UserError(where + "token " + display(bytes) + " was already given on line " + before);
            tokens.add(bytes);
            lines.add(lineNo);
            if (afterRank != null && (tokens.size() & 1023) == 0) afterRank.accept(tokens.size());
        }
        if (tokens.isEmpty()) throw new UserError("convert-tiktoken: " + file + " has no tokens (expected lines 'base64(token bytes) rank')");
        for (int b = 0; b < 256; b++) {
            if (!lineOf.containsKey(String.valueOf((char) b))) {
                throw new UserError("convert-tiktoken: " + file + " has no token for the single byte 0x"
                        + String.format("%02X", b) + "; a byte-level BPE vocabulary needs all 256 single bytes");
            }
        }
        return new Ranks(tokens, lines.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The tokens of a rank file (index = rank) and the line each came from. */
    public record Ranks(List<byte[]> tokens, int[] lines) {}

    // ---------------------------------------------------------------------------------------------
    // Vocabulary and merges
    // ---------------------------------------------------------------------------------------------

    /** Tokens in GGUF form, types and recovered merges for ranked tokens (index = rank) plus the Llama 3 specials. */
    public static Vocabulary vocabulary(Ranks ranks, String where) { return vocabulary(ranks, where, null); }

    /** {@link #vocabulary(Ranks, String)}, telling afterRank (may be null) how many ranks are split, every 1024. */
    public static Vocabulary vocabulary(Ranks ranks, String where, IntConsumer afterRank) {
        List<byte[]> ranked = ranks.tokens();
        int n = ranked.size();
        String[] tokens = new String[n + SPECIAL_COUNT];
        int[] types = new int[n + SPECIAL_COUNT];
        for (int i = 0; i < n; i++) {
            tokens[i] = toGpt2Chars(ranked.get(i));
            types[i] = TYPE_NORMAL;
        }
        String[] specials = llama3SpecialTokens();
        for (int i = 0; i < SPECIAL_COUNT; i++) {
            tokens[n + i] = specials[i];
            types[n + i] = TYPE_CONTROL;
        }
        int[][] pairs = recoverMerges(ranks, where, afterRank);
        String[] merges = new String[pairs.length];
        boolean[] made = new boolean[n];
        for (int k = 0; k < pairs.length; k++) {
            merges[k] = tokens[pairs[k][0]] + " " + tokens[pairs[k][1]];
            made[pairs[k][2]] = true;
        }
        int unsplittable = 0;
        for (int i = 0; i < n; i++) if (!made[i] && ranked.get(i).length > 1) unsplittable++;
        return new Vocabulary(tokens, types, merges, n, n, n + 1, unsplittable);
    }

    /**
     * The merges, as (left rank, right rank, merged rank) in merge order. A rank file has no merge list; it is recovered
     * as Hugging Face transformers' TikTokenConverter does (the conversion behind Llama 3's tokenizer.json and the
     * tokenizer.ggml.merges of Llama 3 GGUF files): for every token of two or more bytes, in rank order, every split
     * into a left and a right part that are both tokens is a merge; the splits of one token are ordered by
     * (rank of left, rank of right). Merge-list BPE then merges, like tiktoken, the adjacent pair whose
     * concatenation has the lowest rank. For Llama 3 this gives 280147 merges.
     *
     * <p>Why not one merge per token (run BPE on the token's bytes with lower ranks, keep the final two parts, as
     * one can for GPT-2/cl100k): 678 of Llama 3's tokens, the first at rank 100421 ('.:.:'), do not come out of
     * that BPE as two parts, and many of them are reached in real text through other splits (" Việt" is one).
     */
    public static int[][] recoverMerges(Ranks ranks, String where) { return recoverMerges(ranks, where, null); }

    private static int[][] recoverMerges(Ranks ranks, String where, IntConsumer afterRank) {
        List<byte[]> ranked = ranks.tokens();
        Map<String, Integer> rankOf = new HashMap<>(ranked.size() * 2);
        for (int i = 0; i < ranked.size(); i++) rankOf.put(new String(ranked.get(i), StandardCharsets.ISO_8859_1), i);
        List<int[]> merges = new ArrayList<>();
        List<int[]> local = new ArrayList<>();
        for (int r = 0; r < ranked.size(); r++) {
            byte[] token = ranked.get(r);
            if (token.length < 2) continue;
            String s = new String(token, StandardCharsets.ISO_8859_1);
            local.clear();
            for (int i = 1; i < s.length(); i++) {
                Integer a = rankOf.get(s.substring(0, i)), b = rankOf.get(s.substring(i));
                if (a != null && b != null) local.add(new int[] {a, b, r});
            }
            local.sort((x, y) -> x[0] != y[0] ? Integer.compare(x[0], y[0]) : Integer.compare(x[1], y[1]));
            merges.addAll(local);
            if (afterRank != null && ((r + 1) & 1023) == 0) afterRank.accept(r + 1);
        }
        return merges.toArray(new int[0][]);
    }

    /** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others become U+0100.. in byte order. */
    static final char[] BYTE_TO_CHAR = new char[256];

    static {
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + extra++);
        }
    }

    public static String toGpt2Chars(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) c[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(c);
    }

    private static String display(byte[] bytes) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < bytes.length && i < 24; i++) sb.append(i > 0 ? " " : "").append(String.format("%02x", bytes[i] & 0xFF));
        if (bytes.length > 24) sb.append(" ...");
        return sb.append("] ('").append(shorten(new String(bytes, StandardCharsets.UTF_8))).append("')").toString();
    }

    /** A line for a message: at most 60 characters, control and undecodable characters shown as '?'. */
    private static String shorten(String s) {
        String t = s.length() <= 60 ? s : s.substring(0, 57) + "...";
        StringBuilder sb = new StringBuilder(t.length());
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            sb.append(Character.isISOControl(c) || c == '\uFFFD' ? '?' : c);
        }
        return sb.toString();
    }

}
