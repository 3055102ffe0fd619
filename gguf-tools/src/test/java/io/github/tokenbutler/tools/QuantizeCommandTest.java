package io.github.tokenbutler.tools;

import io.github.tokenbutler.gguf.Quantizers;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.*;

class QuantizeCommandTest {
    @TempDir Path dir;

    private static float[] floats(GGUF g, TensorInfo t) {
        return g.tensorData(t).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    /** Each 2-D tensor must equal the block encoding of its F32 rows; everything else is copied byte for byte. */
    @ParameterizedTest
    @ValueSource(strings = {"Q8_0", "Q4_0"})
    void quantizesEvery2DWeightAndCopiesTheRest(String typeName) {
        GGMLType type = GGMLType.valueOf(typeName);
        Path in = SharedData.testModel("tiny-f32.gguf"), out = dir.resolve("q.gguf");
        CliErrorsTest.Result r = run("quantize", in.toString(), out.toString(), "--type", typeName);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("16 tensors quantized to " + typeName), r.out());
        // The 5 norms are named in the warning.
        assertTrue(r.err().contains("kept 5 tensors as they are (not 2-D): blk.0.attn_norm.weight F32"), r.err());
        try (GGUF src = GGUF.read(in); GGUF dst = GGUF.read(out)) {
            for (String key : src.metadata().keySet()) {
                if (key.equals("general.file_type")) continue;
                assertEquals(src.valueTypes().get(key), dst.valueTypes().get(key), key);
            }
            assertEquals(type == GGMLType.Q8_0 ? 7 : 2, dst.getLong("general.file_type", -1));
            assertEquals(2, dst.getLong("general.quantization_version", -1));
            assertArrayEquals((String[]) src.get("tokenizer.ggml.tokens"), (String[]) dst.get("tokenizer.ggml.tokens"));
            assertEquals(List.copyOf(src.tensors().keySet()), List.copyOf(dst.tensors().keySet()));
            for (TensorInfo s : src.tensors().values()) {
                TensorInfo d = dst.tensors().get(s.name());
                assertArrayEquals(s.shape(), d.shape(), s.name());
                if (s.shape().length == 2) {
                    assertEquals(type, d.type(), s.name());
                    float[] x = floats(src, s);
                    assertArrayEquals(Quantizers.quantize(type, x, 0, x.length), dst.tensorData(d).toArray(ValueLayout.JAVA_BYTE), s.name());
                } else {
                    assertEquals(GGMLType.F32, d.type(), s.name());
                    assertArrayEquals(floats(src, s), floats(dst, d), s.name());
                }
            }
        }
    }

    @Test
    void stories260KKeepsFfnDownAndNamesItInAWarning() {
        // MANIFEST.txt: ffn hidden 172 is not a multiple of 32, so ffn_down (rows of 172) cannot be quantized.
        Path in = SharedData.require("models/stories260K/stories260K.gguf"), out = dir.resolve("s.gguf");
        CliErrorsTest.Result r = run("quantize", in.toString(), out.toString(), "--type", "Q8_0");
        assertEquals(0, r.code(), r.err());
        String warning = r.err().lines().filter(l -> l.contains("row length not a multiple of 32")).findFirst().orElseThrow(() -> new AssertionError(r.err()));
        for (int l = 0; l < 5; l++) assertTrue(warning.contains("blk." + l + ".ffn_down.weight"), warning);
        try (GGUF g = GGUF.read(out)) {
            assertEquals(GGMLType.F32, g.tensors().get("blk.0.ffn_down.weight").type());
            assertEquals(GGMLType.Q8_0, g.tensors().get("blk.0.ffn_up.weight").type());
            assertEquals(GGMLType.Q8_0, g.tensors().get("token_embd.weight").type());
        }
    }

    @Test
    void aFileWhoseWeightsAreAllQuantizedAlreadyIsRefusedNotRelabelled() {
        // Every matrix of tiny-256-q4_0 is Q4_0 or Q6_K: writing it as "Q8_0" would change the label, not the weights.
        Path in = SharedData.testModel("tiny-256-q4_0.gguf"), out = dir.resolve("r.gguf");
        CliErrorsTest.assertUserError(run("quantize", in.toString(), out.toString(), "--type", "Q8_0"),
                "no tensor of", "can be quantized to Q8_0", "already quantized", "quantize the F32, F16 or BF16 file instead");
        assertFalse(java.nio.file.Files.exists(out));
    }

    @Test
    void missingInputIsAUserError() {
        CliErrorsTest.assertUserError(run("quantize", dir.resolve("in.gguf").toString(), dir.resolve("out.gguf").toString(), "--type", "Q8_0"),
                "IN.gguf", "not found");
    }

    /**
     * Needs the runtime's forward pass (vendor/Llama3.java). Reference ids: shared/models/README.md. Logits of
     * the Q8_0 file against the F32 original along the same greedy path: the largest difference, relative to
     * the largest F32 logit magnitude of that step, measured 0.0134 (Q8_0's per-block rounding through 5
     * layers); the bound is 0.03.
     */
    @Test
    void quantizedStories260KStillTellsTheReferenceStory() {
        Path in = SharedData.require("models/stories260K/stories260K.gguf"), out = dir.resolve("s8.gguf");
        assertEquals(0, run("quantize", in.toString(), out.toString(), "--type", "Q8_0").code());
        int[] expected = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
        try (Llama3.Model m = Llama3.Model.load(out, Llama3.LoadOptions.defaults());
             Llama3.Model f32 = Llama3.Model.load(in, Llama3.LoadOptions.defaults())) {
            Llama3.State s = m.newState(null), sf = f32.newState(null);
            int token = 1;
            double worst = 0;
            for (int pos = 0; pos < expected.length; pos++) {
                float[] logits = m.forward(s, new int[] {token}, 0, 1, pos, false);
                float[] reference = f32.forward(sf, new int[] {token}, 0, 1, pos, false);
                double maxDiff = 0, maxRef = 0;
                for (int i = 0; i < logits.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(logits[i] - reference[i]));
                    maxRef = Math.max(maxRef, Math.abs(reference[i]));
                }
                worst = Math.max(worst, maxDiff / maxRef);
                int best = 0;
                for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
                assertEquals(expected[pos], best, "token " + pos);
                token = best;
            }
            System.out.printf(java.util.Locale.ROOT, "stories260K Q8_0 vs F32: worst relative logit difference %.4f over %d steps%n", worst, expected.length);
            assertTrue(worst <= 0.03, "Q8_0 logits differ from F32 by " + worst + " of the largest logit");
        }
    }
}
