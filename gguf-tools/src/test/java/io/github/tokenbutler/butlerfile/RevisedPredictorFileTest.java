package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** v2 (revised) predictor files written with {@link PredictorFileWriter} and read back; corrupt and mismatched files refused. */
class RevisedPredictorFileTest {
    @TempDir Path dir;

    record Made(RevisedPredictorConfig config, ModelFingerprint fingerprint, RevisedPredictorWeights weights) {}

    static Made make(GGUF stories) {
        ModelFingerprint fp = ModelFingerprint.of(StoriesModel.config(stories), stories);
        RevisedPredictorConfig c = RevisedPredictorConfig.forModel(StoriesModel.config(stories), fp.vocabularyHash(), 0, 0, 2, true);
        return new Made(c, fp, RevisedPredictorWeights.random(c, 5));
    }

    /** Every layer's scores of the last of 20 positions of random inputs and keys. */
    static float[] run(RevisedPredictor p) { return run(p, false); }

    /** As {@link #run(RevisedPredictor)}; with groupsOnly, a gqa=kv state's rows per KV head. */
    static float[] run(RevisedPredictor p, boolean groupsOnly) {
        RevisedPredictorConfig c = p.config();
        RevisedImportanceState s = p.newState(32, KeyPrecision.Q8, groupsOnly);
        Random r = new Random(9);
        int n = 20, w = c.modelKvHeads() * c.modelHeadSize();
        for (int l = 0; l < c.modelLayers(); l++) {
            float[] x = new float[n * c.modelDim()], k = new float[n * w];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < k.length; i++) k[i] = (float) r.nextGaussian();
            s.producerInput(l, 0, n, x);
            if (l > 0) {
                s.keysBeforeRope(l, 0, n, k);
                s.keysWritten(l, 0, n, KvRows.wrap(k, w));
            }
        }
        int units = groupsOnly ? c.modelKvHeads() : c.modelHeads();
        float[] all = new float[(c.modelLayers() - 1) * units * n], row = new float[n];
        for (int l = 1; l < c.modelLayers(); l++) {
            for (int h = 0; h < units; h++) {
                if (groupsOnly) s.groupScores(n - 1, l, h, n, row);
                else s.scores(n - 1, l, h, n, row);
                System.arraycopy(row, 0, all, ((l - 1) * units + h) * n, n);
            }
        }
        return all;
    }

    @Test void aWrittenFileReadsBackToIdenticalOutputs() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Made m = make(stories);
            Path file = dir.resolve("v2.gguf");
            PredictorFileWriter.build(m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F32).write(file);
            assertInstanceOf(RevisedPredictor.class, io.github.tokenbutler.plugin.predictor.Predictor.load(file, StoriesModel.info(stories)));
            RevisedPredictor loaded = RevisedPredictor.load(file, StoriesModel.info(stories));
            assertEquals(m.config(), loaded.config());
            assertEquals(m.fingerprint(), loaded.trainedFor());
            for (Map.Entry<String, float[]> e : m.weights().byName().entrySet()) {
                assertArrayEquals(e.getValue(), loaded.weights().byName().get(e.getKey()), e.getKey());
            }
            assertArrayEquals(run(RevisedPredictor.of(m.config(), m.weights(), m.fingerprint())), run(loaded));
        }
    }

    @Test void anF16FileKeepsItsProjectionsInHalfPrecisionWithTheSameOutputs() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            Made m = make(stories);
            Path file = dir.resolve("v2-f16.gguf");
            PredictorFileWriter.build(m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F16).write(file);
            RevisedPredictor loaded = RevisedPredictor.load(file, StoriesModel.info(stories));
            assertTrue(loaded.inF16());
            // the same predictor over the file's values widened to floats: the half-precision matmul widens each
            // row and then runs the float one, so every score is the same bit for bit
            RevisedPredictor widened = RevisedPredictor.of(loaded.config(), loaded.weights(), loaded.trainedFor());
            assertFalse(widened.inF16());
            assertArrayEquals(run(widened), run(loaded));
            assertArrayEquals(run(widened, true), run(loaded, true));
        }
    }

    private Path corrupt(String name, GGUF stories, Consumer<GgufWriter> change) {
        Made m = make(stories);
        GgufWriter full = PredictorFileWriter.build(m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F32);
        change.accept(full);
        Path file = dir.resolve(name + ".gguf");
        full.write(file);
        return file;
    }

    private static void assertRefused(Runnable load, String... fragments) {
        UserError e = assertThrows(UserError.class, load::run);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message should contain '" + f + "': " + e.getMessage());
    }

    @Test void mismatchedAndCorruptFilesAreRefusedWithClearMessages() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            var info = StoriesModel.info(stories);
            Path good = corrupt("good", stories, w -> { });
            assertRefused(() -> TokenButlerPredictor.load(good, info), "a v2 (revised) predictor where a v1 one is expected");
            Path wrongCount = corrupt("count", stories, w -> w.putU32(PredictorFormat.KEY_PRODUCER_COUNT, 7));
            assertRefused(() -> RevisedPredictor.load(wrongCount, info), "tokenbutler.producer.count should be ceil(5 layers / spacing 2) = 3, got 7");
            Path otherModel = corrupt("other-model", stories, w -> w.putU32(PredictorFormat.KEY_MODEL_LAYERS, 6));
            assertRefused(() -> RevisedPredictor.load(otherModel, info), "predictor " + otherModel);
            Path spacing = corrupt("spacing", stories, w -> w.putU32(PredictorFormat.KEY_PRODUCER_SPACING, 9));
            assertRefused(() -> RevisedPredictor.load(spacing, info), "producer spacing 9 is above the model's 5 layers");
        }
    }

    @Test void aV1FileIsNotTakenForAV2One() {
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            PredictorFileTest.Made m = PredictorFileTest.make(stories);
            Path v1 = dir.resolve("v1.gguf");
            PredictorFileWriter.write(v1, m.config(), m.weights(), m.fingerprint(), "test", GGMLType.F32);
            assertRefused(() -> RevisedPredictor.load(v1, StoriesModel.info(stories)), "a v1 predictor where a v2 (revised) one is expected");
        }
    }
}
