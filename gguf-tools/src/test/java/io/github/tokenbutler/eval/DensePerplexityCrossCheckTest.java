package io.github.tokenbutler.eval;

import io.github.tokenbutler.corpus.TokenChunks;
import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The dense perplexity the harness reports, checked against {@link ReferenceForward}, an independent
 * forward pass that first proves itself against llama2.c's documented output.
 */
class DensePerplexityCrossCheckTest {
    private static Path model() { return SharedData.require("models/stories260K/stories260K.gguf"); }

    @Test
    void referenceForwardReproducesLlama2cGreedyOutput() {
        // llama2.c doc/stories260K.md, greedy from BOS (shared/models/README.md).
        int[] expected = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
        try (GGUF g = GGUF.read(model())) {
            ReferenceForward ref = new ReferenceForward(g);
            int[] seq = new int[expected.length + 1];
            seq[0] = 1;
            for (int p = 1; p < seq.length; p++) {
                // Piecewise like decoding: position p-1 alone, continuing the sequence.
                float[] logits = ref.logits(seq, p - 1, 1);
                seq[p] = NextTokenLoss.argmax(logits, 0, ref.vocab());
            }
            assertArrayEquals(expected, java.util.Arrays.copyOfRange(seq, 1, seq.length));
        }
    }

    @Test
    void harnessDensePerplexityMatchesTheReference() {
        Path valid = SharedData.require("data/tinystories/valid.txt");
        int ctx = 256;
        Model model = Model.load(model(), new LoadOptions(ctx));
        try (model; GGUF g = GGUF.read(model())) {
            List<String> stories = Stories.read(valid, "--text");
            TokenChunks chunks = TokenChunks.of(TokenChunks.stream(stories, model.tokenizer()), model.tokenizer().bosId(), ctx, 2, "valid.txt");
            int vocab = model.config().vocabSize();
            NextTokenLoss harness;
            try (PolicySession dense = PolicySession.dense(model)) {
                harness = PerplexityEvaluation.measure(dense, chunks, vocab, null);
            }
            NextTokenLoss reference = PerplexityEvaluation.measure(new ReferenceForward(g), chunks, vocab, null);
            assertEquals(reference.count(), harness.count());
            // Same model, different summation orders: float noise only.
            assertEquals(reference.meanNll(), harness.meanNll(), 1e-3 * reference.meanNll(),
                    "runtime " + harness.perplexity() + " vs reference " + reference.perplexity());
        }
    }
}
