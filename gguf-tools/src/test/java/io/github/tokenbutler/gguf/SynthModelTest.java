package io.github.tokenbutler.gguf;

import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class SynthModelTest {
    @TempDir Path dir;

    private static final Hyperparameters TINY = SynthModel.PRESETS.get("tiny");

    @Test
    void sameSeedGivesByteIdenticalFilesAndAnotherSeedDoesNot() throws IOException {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        SynthModel.write(TINY, "tiny", GGMLType.Q8_0, 5, a);
        SynthModel.write(TINY, "tiny", GGMLType.Q8_0, 5, b);
        SynthModel.write(TINY, "tiny", GGMLType.Q8_0, 6, c);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(c)));
    }

    /** The committed files must be what the generator makes now (test-models/README.md gives the commands). */
    @ParameterizedTest
    @CsvSource({"tiny, F32, tiny-f32.gguf", "tiny, Q8_0, tiny-q8_0.gguf", "tiny, Q4_0, tiny-q4_0.gguf",
            "tiny-mha, F32, tiny-mha-f32.gguf", "tiny-256, Q4_0, tiny-256-q4_0.gguf"})
    void committedTestModelsMatchTheGenerator(String preset, String type, String file) throws IOException {
        Path fresh = dir.resolve(file);
        SynthModel.write(SynthModel.PRESETS.get(preset), preset, GGMLType.valueOf(type), 1, fresh);
        assertArrayEquals(Files.readAllBytes(SharedData.testModel(file)), Files.readAllBytes(fresh),
                file + " differs from `synth --preset " + preset + " --type " + type + " --seed 1`: regenerate test-models (see its README)");
    }

    @Test
    void tinyModelHasTheLlamaLayout() {
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-f32.gguf"))) {
            assertEquals("llama", g.get("general.architecture"));
            assertEquals(64, g.getLong("llama.embedding_length", 0));
            assertEquals(192, g.getLong("llama.feed_forward_length", 0));
            assertEquals(2, g.getLong("llama.block_count", 0));
            assertEquals(4, g.getLong("llama.attention.head_count", 0));
            assertEquals(2, g.getLong("llama.attention.head_count_kv", 0));
            assertEquals(16, g.getLong("llama.rope.dimension_count", 0));
            assertEquals(256, g.getLong("llama.context_length", 0));
            assertEquals(0, g.getLong("general.file_type", -1));
            assertEquals(1, g.getLong("tokenbutler.synth.seed", -1));
            assertEquals(2 + 2 * 9 + 1, g.tensors().size());
            assertArrayEquals(new long[] {64, 300}, g.tensors().get("token_embd.weight").shape());
            assertArrayEquals(new long[] {64, 300}, g.tensors().get("output.weight").shape());
            assertArrayEquals(new long[] {64, 64}, g.tensors().get("blk.1.attn_q.weight").shape());
            assertArrayEquals(new long[] {64, 32}, g.tensors().get("blk.1.attn_k.weight").shape());
            assertArrayEquals(new long[] {64, 32}, g.tensors().get("blk.1.attn_v.weight").shape());
            assertArrayEquals(new long[] {64, 64}, g.tensors().get("blk.1.attn_output.weight").shape());
            assertArrayEquals(new long[] {64, 192}, g.tensors().get("blk.1.ffn_gate.weight").shape());
            assertArrayEquals(new long[] {64, 192}, g.tensors().get("blk.1.ffn_up.weight").shape());
            assertArrayEquals(new long[] {192, 64}, g.tensors().get("blk.1.ffn_down.weight").shape());
            assertArrayEquals(new long[] {64}, g.tensors().get("output_norm.weight").shape());
            float[] norm = GgufWriterTest.floats(g.tensorData("blk.0.attn_norm.weight"));
            for (float v : norm) assertEquals(1f, v);
        }
    }

    @Test
    void weightsHaveThePlannedSpread() {
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-f32.gguf"))) {
            // σ = 1/√64 for inputs of width 64; attn_output adds 1/√(2·layers) = 1/2.
            assertStd(GgufWriterTest.floats(g.tensorData("blk.0.attn_q.weight")), 0.125);
            assertStd(GgufWriterTest.floats(g.tensorData("blk.0.attn_output.weight")), 0.0625);
            assertStd(GgufWriterTest.floats(g.tensorData("blk.0.ffn_down.weight")), 0.5 / Math.sqrt(192));
        }
    }

    private static void assertStd(float[] x, double expected) {
        double sum = 0, sq = 0;
        for (float v : x) { sum += v; sq += v * (double) v; }
        double mean = sum / x.length, std = Math.sqrt(sq / x.length - mean * mean);
        assertEquals(0, mean, expected * 0.1, "mean");
        assertEquals(expected, std, expected * 0.05, "std");
    }

    @Test
    void quantizedVariantsUseTheExpectedTypes() {
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-q4_0.gguf"))) {
            assertEquals(2, g.getLong("general.file_type", -1));
            assertEquals(GGMLType.Q4_0, g.tensors().get("token_embd.weight").type());
            assertEquals(GGMLType.Q8_0, g.tensors().get("output.weight").type(), "Q6_K needs rows of 256: llama.cpp falls back to Q8_0");
            assertEquals(GGMLType.Q4_0, g.tensors().get("blk.0.ffn_down.weight").type());
            assertEquals(GGMLType.F32, g.tensors().get("blk.0.ffn_norm.weight").type());
        }
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-256-q4_0.gguf"))) {
            assertEquals(GGMLType.Q6_K, g.tensors().get("token_embd.weight").type());
            assertNull(g.tensors().get("output.weight"), "tied");
        }
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-q8_0.gguf"))) {
            assertEquals(7, g.getLong("general.file_type", -1));
            assertEquals(2, g.getLong("general.quantization_version", -1));
            for (TensorInfo t : g.tensors().values()) {
                assertEquals(t.shape().length == 2 ? GGMLType.Q8_0 : GGMLType.F32, t.type(), t.name());
            }
        }
    }

    /** The Q6_K embedding decodes to the generator's F32 values within Q6_K's error. */
    @Test
    void q6KEmbeddingDecodesToTheGeneratedValues() {
        Hyperparameters h = SynthModel.PRESETS.get("tiny-256");
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-256-q4_0.gguf"))) {
            TensorInfo t = g.tensors().get("token_embd.weight");
            float std = (float) (1 / Math.sqrt(h.dim()));
            float[] expected = new float[h.dim()], decoded = new float[h.dim()];
            double se = 0;
            for (int row : new int[] {0, 1, 150, 299}) {
                SynthModel.fillRow(expected, 1, 0, row, std);
                Quantizers.dequantize(GGMLType.Q6_K, g.tensorData(t), row * GGMLType.Q6_K.byteSize(h.dim()), h.dim(), decoded, 0);
                for (int i = 0; i < h.dim(); i++) se += (expected[i] - decoded[i]) * (double) (expected[i] - decoded[i]);
            }
            double rmse = Math.sqrt(se / (4 * h.dim()));
            assertTrue(rmse < 0.04 * std, "rmse " + rmse);
        }
    }

    @Test
    void syntheticVocabularyIsUniqueAndComplete() {
        SpmVocab v = SpmVocab.synthetic(128256);
        assertEquals(128256, v.size());
        Set<String> seen = new HashSet<>(List.of(v.tokens()));
        assertEquals(v.size(), seen.size(), "unique pieces");
        assertEquals("<unk>", v.tokens()[0]);
        assertEquals("<0x00>", v.tokens()[3]);
        assertEquals("<0xFF>", v.tokens()[258]);
        assertEquals(SpmVocab.TYPE_BYTE, v.types()[100]);
        assertEquals(SpmVocab.SPACE, v.tokens()[259]);
        // Every multi-character piece splits into two earlier pieces, so BPE merges can reach it.
        Set<String> earlier = new HashSet<>();
        for (int i = 259; i < v.size(); i++) {
            String p = v.tokens()[i];
            if (p.codePointCount(0, p.length()) > 1) {
                boolean reachable = false;
                for (int k = 1; k < p.length() && !reachable; k++) reachable = earlier.contains(p.substring(0, k)) && earlier.contains(p.substring(k));
                assertTrue(reachable, p);
            }
            earlier.add(p);
            if (i > 259) assertTrue(v.scores()[i] < v.scores()[i - 1]);
        }
    }

    @Test
    void llama1BPresetMatchesTheRealShapes() {
        Hyperparameters h = SynthModel.PRESETS.get("llama-3.2-1b");
        List<String> notes = new ArrayList<>();
        List<SynthModel.PlannedTensor> q4 = SynthModel.plan(h, GGMLType.Q4_0, notes);
        assertTrue(notes.isEmpty(), notes.toString());
        assertEquals(1 + 16 * 9 + 1, q4.size(), "tied: no output.weight");
        assertEquals(GGMLType.Q6_K, q4.getFirst().type());
        assertArrayEquals(new long[] {2048, 128256}, q4.getFirst().shape());
        long params = 0;
        for (SynthModel.PlannedTensor t : q4) params += t.shape()[0] * (t.shape().length > 1 ? t.shape()[1] : 1);
        assertEquals(1_235_814_400L, params, "Llama 3.2 1B's parameter count (tied embeddings)");
        assertEquals(64, h.headSize());
        assertEquals(512, h.kvDim());
    }

    @Test
    void llama1BQ4_K_MPlanIsLlamaCppsMix() {
        // llama.cpp's Q4_K_M for 16 layers: Q6_K for the tied embeddings and for attn_v / ffn_down of layers
        // 0, 1, 14, 15 (first and last eighth) and 4, 7, 10, 13 ((i - 2) % 3 == 2); every other matrix Q4_K.
        List<String> notes = new ArrayList<>();
        List<SynthModel.PlannedTensor> plan = SynthModel.plan(SynthModel.PRESETS.get("llama-3.2-1b"), "Q4_K_M", notes);
        assertTrue(notes.isEmpty(), notes.toString());
        java.util.Set<Integer> moreBits = java.util.Set.of(0, 1, 4, 7, 10, 13, 14, 15);
        java.util.Map<GGMLType, Integer> count = new java.util.EnumMap<>(GGMLType.class);
        for (SynthModel.PlannedTensor t : plan) {
            if (t.shape().length == 1) continue;
            count.merge(t.type(), 1, Integer::sum);
            GGMLType expected = GGMLType.Q4_K;
            if (t.name().equals("token_embd.weight")) expected = GGMLType.Q6_K;
            for (int l : moreBits) if (t.name().equals("blk." + l + ".attn_v.weight") || t.name().equals("blk." + l + ".ffn_down.weight")) expected = GGMLType.Q6_K;
            assertEquals(expected, t.type(), t.name());
        }
        assertEquals(java.util.Map.of(GGMLType.Q4_K, 96, GGMLType.Q6_K, 17), count);
    }

    @Test
    void badShapesAreUserErrors() {
        var e = assertThrows(Llama3.UserError.class, () -> new Hyperparameters("x", 64, 64, 1, 3, 1, 300, 16, 1e4f, 1e-5f, false).validate("synth"));
        assertTrue(e.getMessage().contains("not a multiple of heads 3"), e.getMessage());
        var v = assertThrows(Llama3.UserError.class, () -> SpmVocab.synthetic(100));
        assertTrue(v.getMessage().contains("at least 260"), v.getMessage());
    }

    // --- with the runtime (vendor/Llama3.java's forward pass; waits on the runtime engineer) ----------------

    @ParameterizedTest
    @CsvSource({"tiny-f32.gguf", "tiny-q8_0.gguf", "tiny-q4_0.gguf", "tiny-mha-f32.gguf", "tiny-256-q4_0.gguf"})
    void runtimeLoadsAndRunsEachTestModel(String file) {
        try (Llama3.Model m = Llama3.Model.load(SharedData.testModel(file), Llama3.LoadOptions.defaults())) {
            assertEquals(300, m.config().vocabSize());
            float[] logits = m.forward(m.newState(null), new int[] {1, 300 - 1, 42}, 0, 3, 0, false);
            assertEquals(300, logits.length);
            double sq = 0;
            for (float l : logits) {
                assertTrue(Float.isFinite(l));
                sq += l * (double) l;
            }
            assertTrue(sq > 0, "logits are not all zero");
        }
    }

    @Test
    void quantizedLogitsStayCloseToF32() {
        float[] f32, q8;
        int[] tokens = {1, 270, 300 - 5, 3, 77};
        try (Llama3.Model m = Llama3.Model.load(SharedData.testModel("tiny-f32.gguf"), Llama3.LoadOptions.defaults())) {
            f32 = m.forward(m.newState(null), tokens, 0, tokens.length, 0, false);
        }
        try (Llama3.Model m = Llama3.Model.load(SharedData.testModel("tiny-q8_0.gguf"), Llama3.LoadOptions.defaults())) {
            q8 = m.forward(m.newState(null), tokens, 0, tokens.length, 0, false);
        }
        double se = 0, norm = 0;
        for (int i = 0; i < f32.length; i++) {
            se += (f32[i] - q8[i]) * (double) (f32[i] - q8[i]);
            norm += f32[i] * (double) f32[i];
        }
        assertTrue(Math.sqrt(se / norm) < 0.02, "relative logit error " + Math.sqrt(se / norm));
    }
}
