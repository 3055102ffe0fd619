package io.github.tokenbutler.gguf;

import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.State;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The K-quant weight copies (Q4_K and Q6_K matrices in row groups, with x quantized to 8 bits) against the same file
 * decoded from the mapped blocks in float (-Dtokenbutler.repack=false), in a whole forward pass: the vendor tests'
 * models have no Q4_K and their 300-row outputs are not whole groups of 16, so this synthesizes one that has both, the
 * tiny-256 shape as Q4_K_M with a 320-token vocabulary (Q4_K for attn_q, attn_k, attn_output, ffn_gate and ffn_up;
 * Q6_K for attn_v, ffn_down and the tied output matrix, llama.cpp's mix for a one-layer model). 40 decode steps of
 * fixed tokens; every step's logits within 3% of its largest logit magnitude (RowGroupLogitsTest's bound).
 */
class KQuantWeightCopiesTest {
    @TempDir Path dir;

    @Test
    void decodeFromTheK_QuantCopiesMatchesTheMappedPath() {
        Hyperparameters h = SynthModel.withVocab(SynthModel.PRESETS.get("tiny-256"), 320);
        Path file = dir.resolve("tiny-256-q4km.gguf");
        SynthModel.write(h, "tiny-256", "Q4_K_M", 1, SpmVocab.synthetic(h.vocab()), null, file,
                GgufWriter.Progress.NONE);
        int steps = 40;
        float[][] copies = decode(file, true, steps), mapped = decode(file, false, steps);
        if (copies == null) return; // no 16-lane vector unit: no copies are made (decode says so)
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double max = 0, diff = 0;
            for (int v = 0; v < mapped[s].length; v++) {
                max = Math.max(max, Math.abs(mapped[s][v]));
                diff = Math.max(diff, Math.abs(mapped[s][v] - copies[s][v]));
            }
            worst = Math.max(worst, diff / max);
        }
        System.out.printf(Locale.ROOT, "tiny-256 Q4_K_M decode, K-quant copies vs mapped: worst logit difference %.4f of the largest logit%n", worst);
        assertTrue(worst <= 0.03, "worst logit difference " + worst + " of the largest logit");
    }

    /** Logits of a 4-token prefill, then of steps - 1 decode steps of fixed tokens; null when no copies could be made. */
    private static float[][] decode(Path file, boolean repack, int steps) {
        String before = System.getProperty("tokenbutler.repack");
        System.setProperty("tokenbutler.repack", String.valueOf(repack));
        try (Model m = Model.load(file, new LoadOptions(256))) {
            if (repack && m.repackedBytes() == 0) {
                System.out.println("no weight copies on this machine (they need 16 float lanes): nothing to compare");
                return null;
            }
            // every matrix got its copy: Q4_K at 0.75 bytes a weight (attn_q, attn_output, ffn_gate, ffn_up 256 x 256,
            // attn_k 128 x 256), Q6_K at 1.25 (attn_v 128 x 256, ffn_down 256 x 256, the output 320 x 256)
            long expected = repack ? (long) (0.75 * (4 * 65536 + 32768) + 1.25 * (32768 + 65536 + 81920)) : 0;
            assertEquals(expected, m.repackedBytes(), "bytes of the copies");
            State state = m.newState(null);
            java.util.Random r = new java.util.Random(3);
            int[] tokens = new int[steps + 4];
            for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(310);
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
