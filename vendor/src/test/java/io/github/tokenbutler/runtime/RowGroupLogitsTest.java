package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A Q8_0 model decoded from its row-group copies (the default; Q8_0Tensor.repackRowGroups, x quantized to 8 bits)
 * against the same file decoded from the mapped blocks in float (-Dtokenbutler.repack=false): 40 decode steps of
 * test-models/tiny-q8_0.gguf (its layers' matrices get copies; the 300-row output matrix is not whole groups of 16
 * and keeps the mapped path). Every step's logits within 3% of that step's largest logit magnitude, the bound the
 * Q8_0-vs-F32 logits test allows for the weights' own 8-bit rounding: here it is the activations' (measured 2.5%).
 * The prefill, which never uses the copies, gives the same logits bit for bit either way.
 */
class RowGroupLogitsTest {
    @Test
    void decodeFromTheRowGroupCopiesMatchesTheMappedPath() {
        assumeTrue(Llama3.Simd.ENABLED && Llama3.Simd.L == 16, "the row-group kernel needs 16 float lanes (AVX-512)");
        int steps = 40;
        float[][] grouped = decode(true, steps), mapped = decode(false, steps);
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double max = 0, diff = 0;
            for (int v = 0; v < mapped[s].length; v++) {
                max = Math.max(max, Math.abs(mapped[s][v]));
                diff = Math.max(diff, Math.abs(mapped[s][v] - grouped[s][v]));
            }
            if (s == 0) assertTrue(diff == 0, "the prefill's logits are the same bit for bit, differ by " + diff);
            worst = Math.max(worst, diff / max);
        }
        System.out.printf(Locale.ROOT, "tiny-q8_0 decode, row-group copies vs mapped: worst logit difference %.4f of the largest logit%n", worst);
        assertTrue(worst <= 0.03, "worst logit difference " + worst + " of the largest logit");
    }

    /** Logits of a 4-token prefill, then of steps - 1 decode steps of fixed (seeded) tokens, the same in both runs. */
    private static float[][] decode(boolean repack, int steps) {
        String before = System.getProperty("tokenbutler.repack");
        System.setProperty("tokenbutler.repack", String.valueOf(repack));
        try (Model m = Model.load(SharedData.testModel("tiny-q8_0.gguf"), new LoadOptions(256))) {
            boolean copies = m.repackedBytes() > 0;
            assertTrue(copies == repack, "row-group copies made: " + copies);
            State state = m.newState(null);
            java.util.Random r = new java.util.Random(3);
            int[] tokens = new int[steps + 4];
            for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(290);
            float[][] logits = new float[steps][];
            logits[0] = m.forward(state, tokens, 0, 4, 0, false);
            for (int s = 1; s < steps; s++) logits[s] = m.forward(state, tokens, 3 + s, 1, 3 + s, false);
            return logits;
        } finally {
            if (before == null) System.clearProperty("tokenbutler.repack");
            else System.setProperty("tokenbutler.repack", before);
        }
    }
}
