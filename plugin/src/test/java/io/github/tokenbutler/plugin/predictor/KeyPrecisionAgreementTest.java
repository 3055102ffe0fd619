package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compact importance keys (F16, Q8) against F32: the top-50% token selections they lead to, for random
 * predictors over real stories260K layer-0 inputs (1024 tokens of TinyStories text). For every query token
 * from position 16 on, every layer and every head, the top half of the visible tokens by predicted logit is
 * selected (ties to the earlier token) with F32 keys and with compact keys; agreement is the share of the
 * F32-selected tokens that the compact keys select too (at 50% this equals the share of tokens whose in/out
 * decision agrees). Required: at least 99% for F16 and Q8 (the default), which is why they may replace F32.
 * Q4 is opt-in for speed and changes more selections (about 2%): it is required to stay above 95%. Run with the
 * scaled default d' (8 for stories260K) and with the paper's d' = 16.
 */
class KeyPrecisionAgreementTest {
    static final int TOKENS = 1024, FIRST_QUERY = 16;

    @Test void compactKeysSelectTheSameTokensAsF32() {
        try (GGUF g = StoriesLayer0.open()) {
            ModelConfig mc = StoriesLayer0.config(g);
            int[] tokens = StoriesLayer0.tokens(g, TOKENS);
            float[] x = StoriesLayer0.inputs(g, mc, tokens);
            for (int dPrime : new int[]{0, 16})
            for (KeyPrecision compact : new KeyPrecision[]{KeyPrecision.F16, KeyPrecision.Q8, KeyPrecision.Q4}) {
                PredictorConfig c = PredictorConfig.forModel(mc, "stories", dPrime, 0, 0, 0);
                long agreed = 0, selected = 0, identical = 0, selections = 0;
                double worst = 1;
                for (long seed = 1; seed <= 3; seed++) {
                    TokenButlerPredictor p = TokenButlerPredictor.of(c, PredictorWeights.random(c, seed), PredictorForwardTest.fingerprint(c));
                    ImportanceState exact = p.newState(TOKENS, KeyPrecision.F32), small = p.newState(TOKENS, compact);
                    exact.append(0, tokens.length, x);
                    small.append(0, tokens.length, x);
                    float[] a = new float[TOKENS], b = new float[TOKENS];
                    for (int i = FIRST_QUERY; i < tokens.length; i++) {
                        int count = i + 1, k = (count + 1) / 2;
                        for (int layer = 0; layer < c.modelLayers(); layer++) {
                            for (int head = 0; head < c.modelHeads(); head++) {
                                exact.scores(i, layer, head, count, a);
                                small.scores(i, layer, head, count, b);
                                boolean[] sa = topK(a, count, k), sb = topK(b, count, k);
                                int both = 0;
                                for (int j = 0; j < count; j++) if (sa[j] && sb[j]) both++;
                                agreed += both;
                                selected += k;
                                selections++;
                                if (both == k) identical++;
                                worst = Math.min(worst, (double) both / k);
                            }
                        }
                    }
                }
                double agreement = (double) agreed / selected;
                System.out.printf("d' %d, %s keys vs F32, top-50%% selections over %d query tokens x %d layers x %d heads x 3 predictors: "
                                + "%.4f%% of selected tokens agree, %.2f%% of selections identical, worst selection %.2f%%; %d vs %d bytes per key%n",
                        c.dPrime(), compact, TOKENS - FIRST_QUERY, c.modelLayers(), c.modelHeads(), 100 * agreement,
                        100.0 * identical / selections, 100 * worst, compact.bytesPerVector(c.dPrime()), KeyPrecision.F32.bytesPerVector(c.dPrime()));
                double required = compact == KeyPrecision.Q4 ? 0.95 : 0.99;
                assertTrue(agreement >= required, compact + " agreement " + agreement + ", required " + required);
            }
        }
    }

    /** The k largest of s[0..count), ties broken toward the lower index. */
    static boolean[] topK(float[] s, int count, int k) {
        float[] sorted = Arrays.copyOf(s, count);
        Arrays.sort(sorted);
        float threshold = sorted[count - k];
        boolean[] chosen = new boolean[count];
        int taken = 0;
        for (int j = 0; j < count; j++) if (s[j] > threshold) { chosen[j] = true; taken++; }
        for (int j = 0; j < count && taken < k; j++) if (s[j] == threshold) { chosen[j] = true; taken++; }
        return chosen;
    }
}
