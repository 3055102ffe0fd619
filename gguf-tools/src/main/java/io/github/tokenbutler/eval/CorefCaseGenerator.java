package io.github.tokenbutler.eval;

import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.runtime.Llama3.Tokenizer;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The paper's synthetic co-referential retrieval task, adapted to TinyStories (docs/EVALUATION.md).
 *
 * <p>The paper builds each case as: an invented place name introduced in a sentence ("In the mist-veiled
 * enclave of ziramelgrove, celebrated for ..."), unrelated filler (a philosophy statement, a food
 * description, a math problem), then a question whose answer is the name ("...: which location has the
 * colossal silverwood lilies: ziramelgrove"); the score is the share of the final name's tokens the model
 * mispredicts under teacher forcing. Here, in words a TinyStories model knows:
 * <pre>
 *   Once upon a time, there was a little dragon named Tomar. [distractor sentences] The name of the dragon was Tomar.
 * </pre>
 * The name is made of random syllables and checked not to occur in the distractor corpus, so the model
 * can only get it from the context; it always spans several tokens. Distractor sentences are taken in
 * order from a story picked at random (continuing into the following stories, skipping a sentence too
 * long for the room left) until the case fills the context: the name is then as far back as the window
 * allows.
 *
 * <p>Deterministic: case i depends only on (seed, i), the tokenizer and the corpus, never on the number of
 * cases asked for.
 */
public final class CorefCaseGenerator {
    /**
     * Names are an onset letter and two or three two-letter bodies ("T"+"om"+"ar" = "Tomar"): pronounceable,
     * absent from the corpus (checked), and built from pieces common in small vocabularies, so that with a
     * 512-token vocabulary a name is 2-3 tokens like the story names the model has learnt to copy rather
     * than 7 single letters no model of that size can repeat.
     */
    static final String[] ONSETS = {"B", "D", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W", "Z"};
    static final String[] BODIES = {"om", "ar", "il", "ot", "en", "im", "ay", "ir", "et", "ut", "ow", "an", "or", "id",
            "is", "at", "un", "ad", "ix", "ob", "ag", "el", "ub", "op", "eg", "up"};
    /** A name of at most this many tokens is taken at once; otherwise the fewest-token candidate of a batch. */
    static final int PREFERRED_NAME_TOKENS = 3;
    private static final int NAME_CANDIDATES = 64;
    static final String[] CREATURES = {"dragon", "bunny", "cat", "dog", "bird", "frog", "bear", "fox", "lion", "mouse",
            "duck", "owl", "puppy", "kitten", "turtle", "monkey"};

    private final Tokenizer tokenizer;
    private final List<List<String>> storySentences;
    private final String corpusLower;
    private final long seed;
    private final int ctx;
    private final Map<String, Integer> sentenceTokens = new HashMap<>();

    /**
     * @param corpus stories to draw distractor sentences from (e.g. valid.txt)
     * @param ctx    the most tokens a case may have, BOS included
     */
    public CorefCaseGenerator(Tokenizer tokenizer, List<String> corpus, long seed, int ctx) {
        this.tokenizer = tokenizer;
        this.seed = seed;
        this.ctx = ctx;
        this.storySentences = new ArrayList<>();
        StringBuilder all = new StringBuilder();
        for (String story : corpus) {
            all.append(story.toLowerCase(Locale.ROOT)).append('\n');
            List<String> usable = new ArrayList<>();
            for (String s : Stories.sentences(story)) if (usableDistractor(s)) usable.add(s);
            if (!usable.isEmpty()) storySentences.add(usable);
        }
        this.corpusLower = all.toString();
        if (storySentences.isEmpty()) {
            throw new UserError("coref: the distractor text has no usable sentences (plain ASCII, 3 to 40 words, no quotes,"
                    + " not about names); give a TinyStories-like text with --distractor-text");
        }
    }

    /**
     * A distractor sentence must not compete with the query: no "name"/"named" (another character's name
     * would be a legitimate answer), no quotes (a sentence cut out of dialogue leaves quotes unbalanced),
     * and plain ASCII (the exports' mojibake is not what the task measures).
     */
    static boolean usableDistractor(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 32 || c > 126 || c == '"') return false;
        }
        String lower = " " + s.toLowerCase(Locale.ROOT).replaceAll("[^a-z]+", " ") + " ";
        if (lower.contains(" name ") || lower.contains(" named ") || lower.contains(" names ")) return false;
        int words = s.split(" ").length;
        return words >= 3 && words <= 40;
    }

    public List<CorefCase> generateAll(int count) {
        List<CorefCase> cases = new ArrayList<>(count);
        for (int i = 0; i < count; i++) cases.add(generate(i));
        return cases;
    }

    /** Case i (0-based). */
    public CorefCase generate(int index) {
        // A per-case generator: case i is the same whatever --cases is. java.util.Random's sequence is fixed
        // by its specification, so cases are the same on every JDK.
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + index);
        for (int attempt = 0; attempt < 200; attempt++) {
            String name = inventName(rng);
            String creature = CREATURES[rng.nextInt(CREATURES.length)];
            int story = rng.nextInt(storySentences.size());
            CorefCase c = build(index, name, creature, story);
            if (c != null) return c;
        }
        throw new IllegalStateException("coref: no valid case " + index + " after 200 attempts (the tokenizer merges"
                + " pieces across word boundaries, or every invented name occurs in the corpus)");
    }

    /**
     * An invented name: the first candidate of at most {@link #PREFERRED_NAME_TOKENS} tokens (and at least 2),
     * else the candidate with the fewest tokens (at least 2) among {@link #NAME_CANDIDATES}. Candidates found
     * anywhere in the corpus (case-insensitive) are never used.
     */
    String inventName(Random rng) {
        String best = null;
        int bestTokens = Integer.MAX_VALUE;
        for (int attempt = 0; attempt < 10_000 && (attempt < NAME_CANDIDATES || best == null); attempt++) {
            StringBuilder sb = new StringBuilder(ONSETS[rng.nextInt(ONSETS.length)]);
            int bodies = rng.nextInt(3) == 0 ? 3 : 2;
            for (int i = 0; i < bodies; i++) sb.append(BODIES[rng.nextInt(BODIES.length)]);
            String name = sb.toString();
            if (corpusLower.contains(name.toLowerCase(Locale.ROOT))) continue;
            int tokens = tokenizer.encode(name).length;
            if (tokens < 2) continue;
            if (tokens <= PREFERRED_NAME_TOKENS) return name;
            if (tokens < bestTokens) {
                best = name;
                bestTokens = tokens;
            }
        }
        if (best == null) throw new IllegalStateException("coref: every invented name occurs in the distractor corpus");
        return best;
    }

    /** The case, or null when this name does not tokenize cleanly (too few tokens, merges across words). */
    private CorefCase build(int index, String name, String creature, int firstStory) {
        String introBeforeName = "Once upon a time, there was a little " + creature + " named";
        String intro = introBeforeName + " " + name + ".";
        String query = "The name of the " + creature + " was";
        String ending = " " + name + ".";

        // Distractor sentences in story order from firstStory on, as many as fit: estimated from per-sentence
        // token counts, then checked on the real encoding and shortened until the case fits.
        int fixed = 1 + tokenizer.encode(intro).length + tokenizer.encode(query + ending).length;
        List<String> chosen = new ArrayList<>();
        int estimate = fixed, skippedInARow = 0;
        // A sentence too long for what is left is skipped (the next one may fit); after 50 skips in a row the
        // case counts as full, so a nearly full case does not scan the whole corpus.
        outer:
        for (int s = 0; s < storySentences.size(); s++) {
            for (String sentence : storySentences.get((firstStory + s) % storySentences.size())) {
                int t = sentenceTokens.computeIfAbsent(sentence, x -> tokenizer.encode(x).length);
                if (estimate + t > ctx) {
                    if (++skippedInARow >= 50) break outer;
                    continue;
                }
                chosen.add(sentence);
                estimate += t;
                skippedInARow = 0;
            }
        }
        while (true) {
            if (chosen.isEmpty()) {
                throw new UserError("coref: --context " + ctx + " is too small for a co-reference case: the introduction and the"
                        + " query alone take " + fixed + " tokens, leaving no room for a distractor sentence; use a larger --context");
            }
            String beforeName = intro + " " + String.join(" ", chosen) + " " + query;
            String text = beforeName + ending;
            int[] encoded = tokenizer.encode(text);
            if (encoded.length + 1 > ctx) {
                chosen.removeLast();
                continue;
            }
            int[] before = tokenizer.encode(beforeName);
            int[] through = tokenizer.encode(beforeName + " " + name);
            int[] introBefore = tokenizer.encode(introBeforeName);
            int[] introThrough = tokenizer.encode(introBeforeName + " " + name);
            // The scored span must be exactly the name's tokens: the text up to the name, then the text through
            // the name, must both be prefixes of the whole encoding. A tokenizer merging across the word
            // boundary would blur the span; such a name is dropped and another drawn.
            if (!isPrefix(before, through) || !isPrefix(through, encoded) || !isPrefix(introBefore, introThrough)
                    || !isPrefix(introThrough, encoded) || through.length - before.length < 2) {
                return null;
            }
            int[] tokens = new int[encoded.length + 1];
            tokens[0] = tokenizer.bosId();
            System.arraycopy(encoded, 0, tokens, 1, encoded.length);
            return new CorefCase(index, name, creature, text, tokens, 1 + before.length, 1 + through.length,
                    1 + introBefore.length, 1 + introThrough.length, chosen.size());
        }
    }

    static boolean isPrefix(int[] prefix, int[] of) {
        if (prefix.length > of.length) return false;
        for (int i = 0; i < prefix.length; i++) if (prefix[i] != of[i]) return false;
        return true;
    }

    /** The --write-cases file: a header, then per case one '## case' line with its facts and one line of text. */
    public static String describe(List<CorefCase> cases, long seed, int ctx, String distractorSource) {
        StringBuilder sb = new StringBuilder();
        sb.append("# TokenButler co-reference cases (docs/EVALUATION.md): seed=").append(seed).append(" ctx=").append(ctx)
                .append(" cases=").append(cases.size()).append(" distractors=").append(distractorSource).append('\n');
        sb.append("# Token positions count BOS as 0; ranges are inclusive. The scored tokens are the final mention of the name.\n");
        for (CorefCase c : cases) {
            sb.append(String.format(Locale.ROOT, "## case %d name=%s creature=%s tokens=%d name_tokens=%d..%d intro_name_tokens=%d..%d distance=%d distractor_sentences=%d%n",
                    c.index() + 1, c.name(), c.creature(), c.tokens().length, c.nameStart(), c.nameEnd() - 1,
                    c.introNameStart(), c.introNameEnd() - 1, c.distance(), c.distractorSentences()));
            sb.append(c.text()).append('\n');
        }
        return sb.toString();
    }
}
