package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.plugin.selection.SelectionPolicy;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AttentionOptionsTest {
    static final ModelConfig CONFIG = new ModelConfig(32, 64, 3, 4, 2, 8, 16, 512, 1e-5f, 10000f);

    private static AttentionOptions parse(SelectionPolicy policy, Map<String, String> options) {
        return AttentionOptions.parse(policy, options, CONFIG);
    }

    private static void assertRefused(String key, String value, String expectedWords) {
        UserError e = assertThrows(UserError.class, () -> parse(SelectionPolicy.ORACLE, Map.of(key, value)), key + "=" + value);
        String m = e.getMessage();
        assertTrue(m.contains("'" + key + "'"), "names the key: " + m);
        assertTrue(m.contains(expectedWords), "says what is expected (" + expectedWords + "): " + m);
        assertTrue(m.contains("'" + value + "'"), "shows the actual value: " + m);
        assertTrue(m.contains("oracle"), "names the hook: " + m);
    }

    @Test
    void badValuesNameTheKeyTheExpectationAndTheValue() {
        assertRefused("sparsity", "1.5", "a number from 0 (every position) up to but not including 1");
        assertRefused("sparsity", "1", "a number from 0 (every position) up to but not including 1");
        assertRefused("sparsity", "half", "a number from 0 (every position) up to but not including 1");
        assertRefused("sparsity", "NaN", "a number from 0 (every position) up to but not including 1");
        assertRefused("budget", "0", "an integer from 1");
        assertRefused("budget", "many", "an integer from 1");
        assertRefused("sinks", "-1", "an integer from 0");
        assertRefused("window", "2.5", "an integer from 0");
        assertRefused("gqa", "group", "'head'");
        assertRefused("seed", "x", "an integer");
        assertRefused("measure", "yes", "true or false");
        assertRefused("record", "1-2", "LAYER:HEAD");
        assertRefused("record", "3:0", "layer 0..2");
        assertRefused("record", "1:4", "head 0..3");
        assertRefused("threads", "0", "an integer from 1");
        assertRefused("recent", "2", "a number from 0 to 1");
        assertRefused("page", "0", "an integer from 1");
        assertRefused("keys", "f8", "f32, f16, q8 or q4");
        assertRefused("mirror", "q8", "f32 or f16");
        assertRefused("mirror", "q4", "f32 or f16");
        assertRefused("mirror", "half", "f32 or f16");
        assertRefused("predictor", " ", "the path");
    }

    @Test
    void unknownKeysAreRefusedWithTheKnownOnes() {
        UserError e = assertThrows(UserError.class, () -> parse(SelectionPolicy.H2O, Map.of("sparsty", "0.5")));
        assertTrue(e.getMessage().contains("unknown option 'sparsty'"), e.getMessage());
        assertTrue(e.getMessage().contains("sparsity, budget, sinks, window"), e.getMessage());
        assertTrue(e.getMessage().contains("sparsty=0.5"), e.getMessage());
    }

    @Test
    void sparsityAndBudgetExcludeEachOther() {
        UserError e = assertThrows(UserError.class, () -> parse(SelectionPolicy.QUEST, Map.of("sparsity", "0.5", "budget", "64")));
        assertTrue(e.getMessage().contains("'sparsity' and 'budget'"), e.getMessage());
    }

    @Test
    void tokenbutlerNeedsAPredictorPath() {
        UserError e = assertThrows(UserError.class, () -> parse(SelectionPolicy.TOKENBUTLER, Map.of("sparsity", "0.5")));
        assertTrue(e.getMessage().contains("'predictor' is required"), e.getMessage());
        assertEquals("p.gguf", parse(SelectionPolicy.TOKENBUTLER, Map.of("predictor", "p.gguf")).predictor().toString());
    }

    @Test
    void defaultsAndParsedValues() {
        AttentionOptions d = parse(SelectionPolicy.STREAMING, Map.of());
        assertEquals(0.5, d.budget().sparsity());
        assertEquals(0, d.budget().budget());
        assertEquals(4, d.budget().sinks());
        assertEquals(0, d.budget().window());
        assertFalse(d.perKvHead());
        assertFalse(d.measure());
        assertEquals(-1, d.recordLayer());
        assertEquals(0, d.threads(), "the runtime's pool");
        assertEquals(0.5, d.recent());
        assertEquals(16, d.pageSize());

        AttentionOptions o = parse(SelectionPolicy.RANDOM, Map.ofEntries(Map.entry("budget", "64"), Map.entry("sinks", "0"),
                Map.entry("window", "8"), Map.entry("gqa", "kv"), Map.entry("seed", "-3"), Map.entry("measure", "true"),
                Map.entry("record", "2:3"), Map.entry("threads", "1"), Map.entry("recent", "0.25"), Map.entry("page", "32"),
                Map.entry("keys", "f16")));
        assertEquals(64, o.budget().budget());
        assertEquals(0, o.budget().sinks());
        assertEquals(8, o.budget().window());
        assertTrue(o.perKvHead());
        assertEquals(-3, o.seed());
        assertTrue(o.measure());
        assertEquals(2, o.recordLayer());
        assertEquals(3, o.recordHead());
        assertEquals(1, o.threads());
        assertEquals(0.25, o.recent());
        assertEquals(32, o.pageSize());
        assertEquals("f16", o.keyPrecision().optionName);
    }
}
