package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.gguf.Quantizers;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.ModelInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Predictor files written with {@link PredictorFileWriter} and read back by the plugin; corrupt files refused. */
class PredictorFileTest {
    @TempDir Path dir;

    /** The config, fingerprint and random weights of a stories260K predictor (seed 3, scaled defaults). */
    record Made(PredictorConfig config, ModelFingerprint fingerprint, PredictorWeights weights) {}

    static Made make(GGUF stories) {
        ModelFingerprint fp = ModelFingerprint.of(StoriesModel.config(stories), stories);
        PredictorConfig c = PredictorConfig.forModel(StoriesModel.config(stories), fp.vocabularyHash(), 0, 0, 0, 0);
        return new Made(c, fp, PredictorWeights.random(c, 3));
    }

    /** Scores of every (layer, head) for every token of a 48-token prefill and a 1-token decode step after it. */
    static float[] run(TokenButlerPredictor p, float[] x) {
        PredictorConfig c = p.config();
        ImportanceState s = p.newState(64, KeyPrecision.F32);
        s.append(0, 48, x);
        float[] all = new float[(48 + 1) * c.modelLayers() * c.modelHeads() * 49];
        float[] scores = new float[49];
        int at = 0;
        for (int i = 0; i < 48; i++) {
            for (int l = 0; l < c.modelLayers(); l++) {
                for (int h = 0; h < c.modelHeads(); h++) {
                    s.scores(i, l, h, i + 1, scores);
                    System.arraycopy(scores, 0, all, at, i + 1);
                    at += 49;
                }
            }
        }
        s.append(48, 1, Arrays.copyOfRange(x, 48 * c.modelDim(), 49 * c.modelDim()));
        for (int l = 0; l < c.modelLayers(); l++) {
            for (int h = 0; h < c.modelHeads(); h++) {
                s.scores(0, l, h, 49, scores);
                System.arraycopy(scores, 0, all, at, 49);
                at += 49;
            }
        }
        return all;
    }

    @Test void f32FileReadsBackToIdenticalOutputs() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Made m = make(stories);
            Path file = dir.resolve("p.gguf");
            PredictorFileWriter.write(file, m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F32);
            TokenButlerPredictor loaded = TokenButlerPredictor.load(file, StoriesModel.info(stories));
            assertEquals(m.config(), loaded.config());
            assertEquals(m.fingerprint(), loaded.trainedFor());
            for (Map.Entry<String, float[]> e : m.weights().byName().entrySet()) {
                assertArrayEquals(e.getValue(), loaded.weights().byName().get(e.getKey()), e.getKey());
            }
            float[] x = StoriesModel.layer0Inputs(stories, 49);
            float[] expected = run(TokenButlerPredictor.of(m.config(), m.weights(), m.fingerprint()), x);
            assertArrayEquals(expected, run(loaded, x), "scores of the loaded predictor, bit for bit");
        }
    }

    @Test void f16FileReadsBackAsTheWeightsRoundedToF16() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Made m = make(stories);
            Path file = dir.resolve("p16.gguf");
            PredictorFileWriter.write(file, m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F16);
            try (GGUF g = GGUF.read(file)) {
                assertTrue(g.tensors().values().stream().allMatch(t -> t.type() == GGMLType.F16));
            }
            TokenButlerPredictor loaded = TokenButlerPredictor.load(file, StoriesModel.info(stories));
            PredictorWeights rounded = m.weights().roundedToF16(m.config());
            float[] x = StoriesModel.layer0Inputs(stories, 49);
            assertArrayEquals(run(TokenButlerPredictor.of(m.config(), rounded, m.fingerprint()), x), run(loaded, x));
            assertTrue(Files.exists(file));
        }
    }

    @Test void metadataIsAsDocumented() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Made m = make(stories);
            Path file = dir.resolve("p.gguf");
            PredictorFileWriter.write(file, m.config(), m.weights(), m.fingerprint(), "synthetic", GGMLType.F32);
            try (GGUF g = GGUF.read(file)) {
                assertEquals("tokenbutler", g.get("general.architecture"));
                assertEquals("TokenButler predictor for stories260K", g.get("general.name"));
                assertEquals(1L, g.getLong(PredictorFormat.KEY_FORMAT_VERSION, -1));
                assertEquals(64L, g.getLong(PredictorFormat.KEY_MODEL_DIM, -1));
                assertEquals(5L, g.getLong(PredictorFormat.KEY_MODEL_LAYERS, -1));
                assertEquals(8L, g.getLong(PredictorFormat.KEY_MODEL_HEADS, -1));
                assertEquals(4L, g.getLong(PredictorFormat.KEY_MODEL_KV_HEADS, -1));
                assertEquals(8L, g.getLong(PredictorFormat.KEY_MODEL_HEAD_SIZE, -1));
                assertEquals(512L, g.getLong(PredictorFormat.KEY_MODEL_VOCAB, -1));
                // Scaled defaults for stories260K: d' = head size 8, r = 4 (E/8 = 8 cannot split into 8 heads of even size), I = E = 64.
                assertEquals(8L, g.getLong(PredictorFormat.KEY_D_PRIME, -1));
                assertEquals(4L, g.getLong(PredictorFormat.KEY_REDUCTION_FACTOR, -1));
                assertEquals(16L, g.getLong(PredictorFormat.KEY_PROJECTION_LENGTH, -1));
                assertEquals(32L, g.getLong(PredictorFormat.KEY_FFN_LENGTH, -1));
                assertEquals(64L, g.getLong(PredictorFormat.KEY_IMPORTANCE_HIDDEN, -1));
                assertEquals(8L, g.getLong(PredictorFormat.KEY_ATTENTION_HEADS, -1));
                assertEquals(10000f, g.getFloat(PredictorFormat.KEY_ROPE_BASE, 0));
                assertEquals(1e-5f, g.getFloat(PredictorFormat.KEY_LAYER_NORM_EPS, 0));
                assertEquals(64, ((String) g.get(PredictorFormat.KEY_MODEL_FINGERPRINT)).length());
                assertEquals(ModelFingerprint.ROWS * ModelFingerprint.DIRECTIONS, ((float[]) g.get(PredictorFormat.KEY_MODEL_EMBEDDING_SIGNATURE)).length);
                assertEquals(PredictorFormat.tensorShapes(m.config()).keySet(), g.tensors().keySet());
                assertEquals(m.config().parameterCount(), g.tensors().values().stream().mapToLong(t -> t.elements()).sum());
            }
        }
    }

    @Test void sameSeedSameBytes() throws IOException {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
            RandomPredictor.write(StoriesModel.config(stories), stories, a, 5, 0, 0, 0, 0, GGMLType.F32);
            RandomPredictor.write(StoriesModel.config(stories), stories, b, 5, 0, 0, 0, 0, GGMLType.F32);
            RandomPredictor.write(StoriesModel.config(stories), stories, c, 6, 0, 0, 0, 0, GGMLType.F32);
            assertEquals(-1, Files.mismatch(a, b), "same seed, same bytes");
            assertNotEquals(-1, Files.mismatch(a, c), "another seed, other weights");
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Corrupt files

    /** Writes the stories predictor with a change to the complete writer's contents. */
    private Path corrupt(String name, GGUF stories, Consumer<Rebuild> change) {
        Made m = make(stories);
        GgufWriter full = PredictorFileWriter.build(m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F32);
        Rebuild r = new Rebuild(full, m);
        change.accept(r);
        Path file = dir.resolve(name + ".gguf");
        r.write(file);
        return file;
    }

    /** A copy of a complete predictor writer in which single keys and tensors can be dropped or replaced. */
    static final class Rebuild {
        final GgufWriter source;
        final Made made;
        final java.util.Set<String> dropTensors = new java.util.HashSet<>(), dropKeys = new java.util.HashSet<>();
        final Map<String, long[]> shapes = new java.util.HashMap<>();
        final Map<String, float[]> data = new java.util.HashMap<>();
        final Map<String, byte[]> q8 = new java.util.HashMap<>();
        Consumer<GgufWriter> extra = w -> { };

        Rebuild(GgufWriter source, Made made) { this.source = source; this.made = made; }

        void write(Path file) {
            GgufWriter w = new GgufWriter();
            source.metadata().forEach((k, v) -> { if (!dropKeys.contains(k)) w.put(k, v.type(), v.elementType(), v.value()); });
            extra.accept(w);
            Map<String, float[]> weights = made.weights().byName();
            for (Map.Entry<String, long[]> t : PredictorFormat.tensorShapes(made.config()).entrySet()) {
                String n = t.getKey();
                if (dropTensors.contains(n)) continue;
                if (q8.containsKey(n)) w.addTensor(n, GGMLType.Q8_0, t.getValue(), q8.get(n));
                else w.addTensor(n, data.getOrDefault(n, weights.get(n)), shapes.getOrDefault(n, t.getValue()));
            }
            w.write(file);
        }
    }

    private static void assertRefused(Path file, GGUF stories, String... fragments) {
        UserError e = assertThrows(UserError.class, () -> TokenButlerPredictor.load(file, StoriesModel.info(stories)));
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message should contain '" + f + "': " + e.getMessage());
    }

    @Test void corruptFilesAreRefusedWithClearMessages() throws IOException {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            assertRefused(corrupt("missing-tensor", stories, r -> r.dropTensors.add(PredictorFormat.K_IMPORTANCE_DOWN)), stories,
                    "tensor 'tb.k_importance_down.weight' is missing", "[64, 320]");
            assertRefused(corrupt("wrong-shape", stories, r -> r.shapes.put(PredictorFormat.INPUT_PROJ, new long[]{16, 64})), stories,
                    "tensor 'tb.input_proj.weight' should have shape [64, 16]", "has [16, 64]");
            assertRefused(corrupt("wrong-architecture", stories, r -> r.extra = w -> w.putString("general.architecture", "llama")), stories,
                    "not a TokenButler predictor", "'llama'", "expected 'tokenbutler'");
            assertRefused(corrupt("missing-key", stories, r -> r.dropKeys.add(PredictorFormat.KEY_D_PRIME)), stories,
                    "required metadata key 'tokenbutler.importance.key_length' is missing");
            assertRefused(corrupt("inconsistent", stories, r -> r.extra = w -> w.putU32(PredictorFormat.KEY_REDUCTION_FACTOR, 8)), stories,
                    "tokenbutler.projection_length 16 times tokenbutler.reduction_factor 8 should equal tokenbutler.model.embedding_length 64");
            assertRefused(corrupt("short-signature", stories, r -> r.extra = w -> w.putArray(PredictorFormat.KEY_MODEL_EMBEDDING_SIGNATURE,
                    io.github.tokenbutler.runtime.Llama3.GGUFValueType.FLOAT32, new float[3])), stories,
                    "'tokenbutler.model.embedding_signature' should hold 64 numbers, holds 3");
            assertRefused(corrupt("future-version", stories, r -> r.extra = w -> w.putU32(PredictorFormat.KEY_FORMAT_VERSION, 5)), stories,
                    "format version 5 is not supported", "versions 1 to 4");
            assertRefused(corrupt("quantized-tensor", stories, r -> {
                float[] w = r.made.weights().inputProj;
                r.q8.put(PredictorFormat.INPUT_PROJ, Quantizers.quantize(GGMLType.Q8_0, w, 0, w.length));
            }), stories, "tensor 'tb.input_proj.weight' should be F32 or F16, is Q8_0");
            assertRefused(corrupt("nan", stories, r -> {
                float[] w = r.made.weights().attnNormBias.clone();
                w[3] = Float.NaN;
                r.data.put(PredictorFormat.ATTN_NORM_BIAS, w);
            }), stories, "tensor 'tb.attn_norm.bias' holds NaN at index 3");
            // A model given where the predictor belongs.
            assertRefused(StoriesModel.path(), stories, "not a TokenButler predictor", "'llama'", "model file given as the predictor");
            // A truncated file: the GGUF reader's own message.
            Path whole = corrupt("whole", stories, r -> { });
            Path cut = dir.resolve("truncated.gguf");
            byte[] bytes = Files.readAllBytes(whole);
            Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
            assertRefused(cut, stories, "truncated");
            assertRefused(dir.resolve("absent.gguf"), stories, "predictor file not found");
        }
    }
}
