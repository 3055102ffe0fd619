package io.github.tokenbutler.eval;

import io.github.tokenbutler.corpus.FakeTokenizer;
import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

class CorefCaseGeneratorTest {
    private final FakeTokenizer tok = new FakeTokenizer();

    private static List<String> corpus() {
        return List.of(
                "Tom had a red ball. He liked to throw it high. One day the ball flew over the fence. Tom was sad.",
                "A girl named Sue saw a bird. \"Hello!\" said Sue. The bird sang a song. Sue smiled and went home.",
                "The sun was warm. The flowers were pretty and tall. The bees buzzed around the garden all day long.");
    }

    @Test
    void caseHasTheIntroducedNameDistractorsAndTheQuery() {
        CorefCase c = new CorefCaseGenerator(tok, corpus(), 42, 200).generate(0);
        assertTrue(c.text().startsWith("Once upon a time, there was a little " + c.creature() + " named " + c.name() + ". "), c.text());
        assertTrue(c.text().endsWith(" The name of the " + c.creature() + " was " + c.name() + "."), c.text());
        assertTrue(c.tokens().length <= 200);
        assertEquals(1, c.tokens()[0], "BOS first");
        assertEquals(" " + c.name(), tok.decode(java.util.Arrays.copyOfRange(c.tokens(), c.nameStart(), c.nameEnd())),
                "the scored span is exactly the final mention (with its leading space)");
        assertEquals(" " + c.name(), tok.decode(java.util.Arrays.copyOfRange(c.tokens(), c.introNameStart(), c.introNameEnd())));
        assertTrue(c.nameTokens() >= 2, "multi-token name");
        assertTrue(c.distractorSentences() >= 1);
    }

    @Test
    void namesAreInventedAndAbsentFromTheCorpus() {
        var gen = new CorefCaseGenerator(tok, corpus(), 7, 300);
        for (CorefCase c : gen.generateAll(20)) {
            assertTrue(c.name().matches("[A-Z][a-z]+"), c.name());
            for (String story : corpus()) assertFalse(story.toLowerCase(Locale.ROOT).contains(c.name().toLowerCase(Locale.ROOT)));
        }
    }

    @Test
    void distractorsSkipQuotesAndOtherNames() {
        assertFalse(CorefCaseGenerator.usableDistractor("\"Hello!\" said Sue."));
        assertFalse(CorefCaseGenerator.usableDistractor("A girl named Sue saw a bird."));
        assertFalse(CorefCaseGenerator.usableDistractor("Her name was Sue."));
        assertFalse(CorefCaseGenerator.usableDistractor("He saw itâ€™s tail."));
        assertFalse(CorefCaseGenerator.usableDistractor("Go."));
        assertTrue(CorefCaseGenerator.usableDistractor("The bird sang a song."));
        assertTrue(CorefCaseGenerator.usableDistractor("He didn't want to go home."));
        CorefCase c = new CorefCaseGenerator(tok, corpus(), 1, 400).generate(3);
        String middle = c.text().substring(c.text().indexOf(". ") + 2, c.text().lastIndexOf(" The name of the"));
        assertFalse(middle.contains("named") || middle.contains("\""), middle);
    }

    @Test
    void deterministicPerSeedAndIndependentOfTheCaseCount() {
        List<CorefCase> a = new CorefCaseGenerator(tok, corpus(), 42, 250).generateAll(5);
        List<CorefCase> b = new CorefCaseGenerator(tok, corpus(), 42, 250).generateAll(8);
        for (int i = 0; i < 5; i++) {
            assertEquals(a.get(i).text(), b.get(i).text());
            assertArrayEquals(a.get(i).tokens(), b.get(i).tokens());
        }
        List<CorefCase> other = new CorefCaseGenerator(tok, corpus(), 43, 250).generateAll(5);
        assertNotEquals(a.stream().map(CorefCase::text).toList(), other.stream().map(CorefCase::text).toList());
    }

    @Test
    void casesFillTheContext() {
        int ctx = 300;
        for (CorefCase c : new CorefCaseGenerator(tok, corpus(), 42, ctx).generateAll(5)) {
            assertTrue(c.tokens().length <= ctx);
            // The next corpus sentence (at most ~100 characters here) would not have fitted.
            assertTrue(c.tokens().length > ctx - 110, "case " + c.index() + " has " + c.tokens().length + " tokens");
        }
    }

    @Test
    void tooSmallContextIsAUserError() {
        UserError e = assertThrows(UserError.class, () -> new CorefCaseGenerator(tok, corpus(), 42, 60).generate(0));
        assertTrue(e.getMessage().contains("--context 60"), e.getMessage());
    }

    @Test
    void corpusWithoutUsableSentencesIsAUserError() {
        assertThrows(UserError.class, () -> new CorefCaseGenerator(tok, List.of("\"Hi!\" \"Bye!\""), 42, 200));
    }

    @Test
    void casesFileDescribesEveryCase() {
        List<CorefCase> cases = new CorefCaseGenerator(tok, corpus(), 42, 200).generateAll(3);
        String text = CorefCaseGenerator.describe(cases, 42, 200, "corpus.txt");
        assertEquals(3, text.lines().filter(l -> l.startsWith("## case ")).count());
        assertTrue(text.contains("name=" + cases.get(1).name()));
        assertTrue(text.contains(cases.get(2).text()));
    }

    @Test
    void sharedValidationSetGivesManyDistractorSentences() {
        List<String> stories = Stories.read(SharedData.require("data/tinystories/valid.txt"), "--text");
        CorefCase c = new CorefCaseGenerator(tok, stories, 42, 1024).generate(0);
        assertTrue(c.distractorSentences() >= 10, c.text());
    }
}
