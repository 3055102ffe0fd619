package io.github.tokenbutler.eval;

import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PoliciesTest {
    @Test
    void unknownPolicyListsTheKnownOnes() {
        UserError e = assertThrows(UserError.class, () -> Policies.validate("eval", List.of("dense", "snapkv"), false));
        assertTrue(e.getMessage().contains("unknown policy 'snapkv'"), e.getMessage());
        for (String p : List.of("dense", "oracle", "tokenbutler", "h2o", "streaming", "quest", "random")) {
            assertTrue(e.getMessage().contains(p), "lists " + p + ": " + e.getMessage());
        }
    }

    @Test
    void tokenbutlerNeedsAPredictor() {
        UserError e = assertThrows(UserError.class, () -> Policies.validate("eval", List.of("oracle", "tokenbutler"), false));
        assertTrue(e.getMessage().contains("--predictor"), e.getMessage());
        assertEquals(List.of("oracle", "tokenbutler"), Policies.validate("eval", List.of("oracle", "TokenButler"), true));
    }

    @Test
    void denseIsRemovedFromTheSparseListAndDuplicatesRefused() {
        assertEquals(List.of("oracle", "random"), Policies.validate("eval", List.of("oracle", "dense", "random"), false));
        assertThrows(UserError.class, () -> Policies.validate("eval", List.of("oracle", "oracle"), false));
    }

    @Test
    void defaultsIncludeTokenbutlerOnlyWithAPredictor() {
        assertFalse(Policies.defaults(false).contains("tokenbutler"));
        assertTrue(Policies.defaults(true).contains("tokenbutler"));
        assertEquals("dense", Policies.defaults(false).getFirst());
    }

    @Test
    void sparsitiesAreFractionsStrictlyBetweenZeroAndOne() {
        assertEquals(List.of(0.25, 0.5, 0.75), Policies.sparsities("eval", "sparsity", List.of("0.25", "0.5", "0.75")));
        for (String bad : List.of("0", "1", "1.5", "-0.1", "half", "NaN")) {
            UserError e = assertThrows(UserError.class, () -> Policies.sparsities("eval", "sparsity", List.of(bad)), bad);
            assertTrue(e.getMessage().contains("--sparsity"), e.getMessage());
        }
        assertThrows(UserError.class, () -> Policies.sparsities("eval", "sparsity", List.of("0.5", "0.50")));
    }

    @Test
    void optionsCarrySparsityPredictorMeasureAndRecord() {
        Map<String, String> o = Policies.options("tokenbutler", 0.5, Path.of("p.gguf"), Map.of("sinks", "4"), true, "1:0");
        assertEquals(Map.of("sparsity", "0.5", "predictor", "p.gguf", "sinks", "4", "measure", "true", "record", "1:0"), o);
        assertEquals(Map.of("sparsity", "0.25"), Policies.options("oracle", 0.25, null, Map.of(), false, null));
    }

    @Test
    void extraOptionsMayNotOverrideTheHarness() {
        assertEquals(Map.of("gqa", "kv"), Policies.extraOptions("eval", List.of("gqa=kv")));
        assertThrows(UserError.class, () -> Policies.extraOptions("eval", List.of("budget=64")));
        assertThrows(UserError.class, () -> Policies.extraOptions("eval", List.of("sinks")));
    }

    @Test
    void formatsWithoutFloatNoise() {
        assertEquals("0.3", Policies.formatSparsity(0.3));
        assertEquals("30", Policies.formatPercent(0.3));
        assertEquals("12.5", Policies.formatPercent(0.125));
    }
}
