package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Models decoded from their weight copies (the default: Q8_0 and Q4_0 matrices in row groups, RowGroupTensor, with x
 * quantized to 8 bits; Q6_K matrices as int8, Q6_KTensor.repackForDecode) against the same files decoded from the
 * mapped blocks in float (-Dtokenbutler.repack=false): 40 decode steps of test-models/tiny-q8_0.gguf and
 * tiny-q4_0.gguf (their layers' matrices get row-group copies; the 300-row output matrices are not whole groups of 16
 * and keep the mapped path) and tiny-256-q4_0.gguf (Q4_0 layers, and a Q6_K output matrix that gets the int8 copy).
 * Every step's logits within 3% of that step's largest logit magnitude, the bound the Q8_0-vs-F32 logits test allows
 * for the weights' own 8-bit rounding: here it is the activations' (measured 2.5-2.8%). The prefill's layers never use
 * the copies, and the one decode matvec it runs (its last token's logits) reads the Q6_K copy's exactly equal values
 * in another summation order: its logits within 1e-5 of the largest.
 */
class RowGroupLogitsTest {
    @ParameterizedTest
    @ValueSource(strings = {"tiny-q8_0.gguf", "tiny-q4_0.gguf", "tiny-256-q4_0.gguf"})
    void decodeFromTheWeightCopiesMatchesTheMappedPath(String file) {
        assumeTrue(Llama3.Simd.ENABLED && Llama3.Simd.L == 16, "the row-group kernel needs 16 float lanes (AVX-512)");
        int steps = 40;
        float[][] grouped = decode(file, true, steps), mapped = decode(file, false, steps);
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double max = 0, diff = 0;
            for (int v = 0; v < mapped[s].length; v++) {
                max = Math.max(max, Math.abs(mapped[s][v]));
                diff = Math.max(diff, Math.abs(mapped[s][v] - grouped[s][v]));
            }
            if (s == 0) assertTrue(diff <= 1e-5 * max, "the prefill's logits differ by " + diff);
            worst = Math.max(worst, diff / max);
        }
        System.out.printf(Locale.ROOT, "%s decode, weight copies vs mapped: worst logit difference %.4f of the largest logit%n", file, worst);
        assertTrue(worst <= 0.03, "worst logit difference " + worst + " of the largest logit");
    }

    /** Logits of a 4-token prefill, then of steps - 1 decode steps of fixed (seeded) tokens, the same in both runs. */
    private static float[][] decode(String file, boolean repack, int steps) {
        String before = System.getProperty("tokenbutler.repack");
        System.setProperty("tokenbutler.repack", String.valueOf(repack));
        try (Model m = Model.load(SharedData.testModel(file), new LoadOptions(256))) {
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
