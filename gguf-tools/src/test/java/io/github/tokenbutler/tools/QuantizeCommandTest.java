package io.github.tokenbutler.tools;

import io.github.tokenbutler.gguf.LlamaGguf;
import io.github.tokenbutler.gguf.QuantMix;
import io.github.tokenbutler.gguf.Quantizers;
import io.github.tokenbutler.gguf.SynthModel;
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
import java.util.Map;

import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.*;

class QuantizeCommandTest {
    @TempDir Path dir;

    private static float[] floats(GGUF g, TensorInfo t) {
        return g.tensorData(t).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    /** Each 2-D tensor must equal the block encoding of its F32 rows; everything else is copied byte for byte. */
    @ParameterizedTest
    @ValueSource(strings = {"Q8_0", "Q4_0", "Q4_1"})
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
            assertEquals(QuantMix.parse(typeName, "test").fileType, dst.getLong("general.file_type", -1));
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

    /**
     * A tied F32 model with rows of 256 and 512 (8 layers, so llama.cpp's rule picks layers 0, 3, 6 and 7 for Q6_K
     * attn_v / ffn_down: 8/8 = 1, 7*8/8 = 7, (i - 1) % 3 == 2), written by synth in the test's temporary folder.
     */
    private Path kShapedModel() {
        Path in = dir.resolve("k-f32.gguf");
        SynthModel.write(new LlamaGguf.Hyperparameters("k-shaped", 256, 512, 8, 4, 2, 300, 256, 10000f, 1e-5f, true), "k", GGMLType.F32, 3, in);
        return in;
    }

    /** Each quantized tensor must be the block encoding of its F32 rows in the type the mix gives it. */
    private static void assertEncodedAs(GGUF src, GGUF dst, java.util.function.Function<String, GGMLType> expected) {
        for (TensorInfo s : src.tensors().values()) {
            TensorInfo d = dst.tensors().get(s.name());
            if (s.shape().length != 2) {
                assertEquals(GGMLType.F32, d.type(), s.name());
                continue;
            }
            GGMLType type = expected.apply(s.name());
            assertEquals(type, d.type(), s.name());
            float[] x = floats(src, s);
            assertArrayEquals(Quantizers.quantize(type, x, 0, x.length), dst.tensorData(d).toArray(ValueLayout.JAVA_BYTE), s.name());
        }
    }

    @Test
    void q4_K_MFollowsLlamaCppsMix() {
        Path in = kShapedModel(), out = dir.resolve("q4km.gguf");
        CliErrorsTest.Result r = run("quantize", in.toString(), out.toString(), "--type", "Q4_K_M");
        assertEquals(0, r.code(), r.err());
        // 7 matrices in each of 8 layers and the tied embeddings: 4 attn_v, 4 ffn_down and token_embd are Q6_K.
        assertTrue(r.out().contains("57 tensors quantized to Q4_K_M (48 Q4_K, 9 Q6_K)"), r.out());
        assertFalse(r.err().contains("Q8_0"), r.err());
        java.util.Set<Integer> moreBits = java.util.Set.of(0, 3, 6, 7);
        try (GGUF src = GGUF.read(in); GGUF dst = GGUF.read(out)) {
            assertEquals(15, dst.getLong("general.file_type", -1), "LLAMA_FTYPE_MOSTLY_Q4_K_M");
            assertEncodedAs(src, dst, name -> {
                if (name.equals("token_embd.weight")) return GGMLType.Q6_K;
                for (int l : moreBits) {
                    if (name.equals("blk." + l + ".attn_v.weight") || name.equals("blk." + l + ".ffn_down.weight")) return GGMLType.Q6_K;
                }
                return GGMLType.Q4_K;
            });
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q4_K", "Q5_K", "Q6_K"})
    void singleKTypesQuantizeEveryMatrix(String typeName) {
        Path in = kShapedModel(), out = dir.resolve("k.gguf");
        CliErrorsTest.Result r = run("quantize", in.toString(), out.toString(), "--type", typeName);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("57 tensors quantized to " + typeName + " in"), r.out());
        try (GGUF src = GGUF.read(in); GGUF dst = GGUF.read(out)) {
            // llama.cpp's Q4_K_S, Q5_K_S and Q6_K file types: what llama-quantize --pure writes for them.
            assertEquals(Map.of("Q4_K", 14, "Q5_K", 16, "Q6_K", 18).get(typeName), (int) dst.getLong("general.file_type", -1));
            assertEncodedAs(src, dst, name -> GGMLType.valueOf(typeName));
        }
    }

    /**
     * The runtime loads the K-quant files and computes with them: along the F32 model's greedy path, the largest logit
     * difference relative to the largest F32 logit magnitude orders as the bits do. With random weights the logits are
     * small and close together, so the relative difference is large for every 4-bit type (Q4_0's included); the test
     * compares the types with each other on the same model instead of with an absolute bound, and prints the numbers
     * (measured: Q4_0 0.333, Q4_K 0.311, Q4_K_M 0.269, Q5_K 0.182, Q6_K 0.098, Q8_0 0.026).
     */
    @Test
    void theRuntimeRunsTheKQuantFilesAndMoreBitsGiveCloserLogits() {
        Path in = kShapedModel();
        Map<String, Double> worst = new java.util.LinkedHashMap<>();
        for (String type : List.of("Q4_0", "Q4_K", "Q4_K_M", "Q5_K", "Q6_K", "Q8_0")) {
            Path out = dir.resolve(type + ".gguf");
            assertEquals(0, run("quantize", in.toString(), out.toString(), "--type", type).code(), type);
            worst.put(type, worstLogitDifference(out, in, 8));
        }
        System.out.println("k-shaped model, worst relative logit difference to F32 over 8 steps: " + worst);
        assertTrue(worst.get("Q4_K") < worst.get("Q4_0"), worst.toString());
        assertTrue(worst.get("Q4_K_M") <= worst.get("Q4_K"), worst.toString());
        assertTrue(worst.get("Q5_K") < worst.get("Q4_K_M"), worst.toString());
        assertTrue(worst.get("Q6_K") < worst.get("Q5_K"), worst.toString());
        assertTrue(worst.get("Q8_0") < worst.get("Q6_K"), worst.toString());
    }

    private static double worstLogitDifference(Path quantized, Path f32Path, int steps) {
        try (Llama3.Model m = Llama3.Model.load(quantized, Llama3.LoadOptions.defaults());
             Llama3.Model f32 = Llama3.Model.load(f32Path, Llama3.LoadOptions.defaults())) {
            Llama3.State s = m.newState(null), sf = f32.newState(null);
            int token = 1;
            double worst = 0;
            for (int pos = 0; pos < steps; pos++) {
                float[] logits = m.forward(s, new int[] {token}, 0, 1, pos, false);
                float[] reference = f32.forward(sf, new int[] {token}, 0, 1, pos, false);
                double maxDiff = 0, maxRef = 0;
                int best = 0;
                for (int i = 0; i < logits.length; i++) {
                    assertTrue(Float.isFinite(logits[i]), quantized + ": logit " + i + " at " + pos);
                    maxDiff = Math.max(maxDiff, Math.abs(logits[i] - reference[i]));
                    maxRef = Math.max(maxRef, Math.abs(reference[i]));
                    if (reference[i] > reference[best]) best = i;
                }
                worst = Math.max(worst, maxDiff / maxRef);
                token = best;
            }
            return worst;
        }
    }

    @Test
    void kQuantRowsOfOtherMultiplesOf32BecomeQ8_0AndAreNamed() {
        // tiny-f32's rows are 64 and 192 values long: no 256-value K-quant blocks fit, Q8_0 blocks do.
        Path in = SharedData.testModel("tiny-f32.gguf"), out = dir.resolve("q.gguf");
        CliErrorsTest.Result r = run("quantize", in.toString(), out.toString(), "--type", "Q4_K_M");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("16 tensors quantized to Q4_K_M (16 Q8_0)"), r.out());
        String warning = r.err().lines().filter(l -> l.contains("as Q8_0")).findFirst().orElseThrow(() -> new AssertionError(r.err()));
        assertTrue(warning.contains("wrote 16 tensors as Q8_0 (row length not a multiple of 256"), warning);
        assertTrue(warning.contains("output.weight (Q6_K wanted, rows of 64)"), warning);
        assertTrue(warning.contains("blk.0.attn_q.weight (Q4_K wanted, rows of 64)"), warning);
        try (GGUF dst = GGUF.read(out)) {
            for (TensorInfo t : dst.tensors().values()) assertEquals(t.shape().length == 2 ? GGMLType.Q8_0 : GGMLType.F32, t.type(), t.name());
        }
    }

    @Test
    void layersGettingMoreBitsFollowLlamaCppsRule() {
        // use_more_bits for 16 layers (Llama 3.2 1B): 16/8 = 2, 7*16/8 = 14, (i - 2) % 3 == 2.
        List<Integer> picked = java.util.stream.IntStream.range(0, 16).filter(i -> QuantMix.usesMoreBits(i, 16)).boxed().toList();
        assertEquals(List.of(0, 1, 4, 7, 10, 13, 14, 15), picked);
        QuantMix.Layout untied = new QuantMix.Layout(16, 16, true);
        assertEquals(GGMLType.Q4_K, QuantMix.Q4_K_M.preferred("token_embd.weight", untied));
        assertEquals(GGMLType.Q6_K, QuantMix.Q4_K_M.preferred("output.weight", untied));
        assertEquals(GGMLType.Q6_K, QuantMix.Q5_K_M.preferred("blk.13.ffn_down.weight", untied));
        assertEquals(GGMLType.Q5_K, QuantMix.Q5_K_M.preferred("blk.12.ffn_down.weight", untied));
        assertEquals(GGMLType.Q4_K, QuantMix.Q4_K_M.preferred("blk.4.attn_k.weight", untied));
        assertEquals(GGMLType.Q4_K, QuantMix.Q4_K.preferred("output.weight", untied));
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
