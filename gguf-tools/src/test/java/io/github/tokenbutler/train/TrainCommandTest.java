package io.github.tokenbutler.train;

import io.github.tokenbutler.eval.CommandRunner;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import io.github.tokenbutler.tools.TrainCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The train command end to end: learning on a real model, determinism, resume, and its user errors. */
class TrainCommandTest {
    @TempDir Path dir;

    /** Some English for the tiny random model (its vocabulary spells anything). */
    private Path tinyText() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            sb.append("Once upon a time there was a little cat named Tom number ").append(i).append(". He liked to play in the sun.\n<|endoftext|>\n");
        }
        Path p = dir.resolve("tiny.txt");
        Files.writeString(p, sb.toString());
        return p;
    }

    private static CommandRunner.Output train(String... argv) throws Exception {
        return CommandRunner.run((o, e) -> new TrainCommand(o, e, false), argv);
    }

    @Test
    void lossGoesDownAndHitRateUpOnStories260K() throws Exception {
        Path model = SharedData.require("models/stories260K/stories260K.gguf");
        Path text = SharedData.require("data/tinystories/train.txt");
        Path valid = SharedData.require("data/tinystories/valid.txt");
        try (Model m = Model.load(model, new LoadOptions(128))) {
            TeacherForcing teacher = new TeacherForcing(m);
            TrainingData data = TrainingData.read(text, "--text", m.tokenizer(), 128, 64, 1);
            TrainingData v = TrainingData.read(valid, "--valid", m.tokenizer(), 128, 8, 0);
            List<TeacherSample> validSamples = new ArrayList<>();
            for (int i = 0; i < v.count(); i++) validSamples.add(teacher.run(v.sequence(i)));
            var fp = io.github.tokenbutler.plugin.predictor.ModelFingerprint.of(m.config(), m.gguf());
            var config = io.github.tokenbutler.plugin.predictor.PredictorConfig.forModel(m.config(), fp.vocabularyHash(), 0, 0, 0, 0);
            TrainingOptions options = new TrainingOptions(128, 25, 4, 1e-2, 3, 0.01, 1.0, 1, TrainingLoss.DEFAULT);
            try (Trainer trainer = new Trainer(config, options, 2)) {
                double[] params = trainer.layout().flatten(io.github.tokenbutler.plugin.predictor.PredictorWeights.random(config, 1));
                Trainer.State state = new Trainer.State(params, new AdamW(trainer.layout(), 0.01), 0);
                Trainer.Measure before = trainer.evaluate(state.params, validSamples);
                trainer.run(state, data, teacher::run, (s, meas, lr, norm) -> {});
                Trainer.Measure after = trainer.evaluate(state.params, validSamples);
                assertTrue(after.loss() < 0.7 * before.loss(), "validation loss " + before.loss() + " -> " + after.loss());
                assertTrue(after.hitRate() > before.hitRate() + 0.08, "validation hit-rate " + before.hitRate() + " -> " + after.hitRate());
            }
        }
    }

    @Test
    void writesALoadablePredictorWithItsParameterCount() throws Exception {
        Path model = SharedData.testModel("tiny-f32.gguf"), out = dir.resolve("p.gguf");
        CommandRunner.Output r = train("--model", model.toString(), "--text", tinyText().toString(), "--valid", tinyText().toString(),
                "--out", out.toString(), "--seq-len", "32", "--steps", "4", "--batch", "2", "--valid-sequences", "2");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("parameters ("), r.out());
        assertTrue(r.out().contains("wrote " + out), r.out());
        try (GGUF g = GGUF.read(out)) {
            assertTrue(g.getLong("tokenbutler.training.parameter_count", -1) > 0);
            assertTrue(g.getFloat("tokenbutler.training.parameter_ratio", -1f) > 0);
            assertEquals(TrainingLoss.DEFAULT.id, g.require("tokenbutler.training.loss", String.class));
        }
        try (Model m = Model.load(model, LoadOptions.defaults())) {
            TokenButlerPredictor.load(out, m.info()); // refuses a broken file or another model
        }
    }

    @Test
    void sameBitsOnAnyThreadCountAndAfterResume() throws Exception {
        Path model = SharedData.testModel("tiny-f32.gguf"), text = tinyText();
        Path straight = dir.resolve("a.ckpt"), oneThread = dir.resolve("b.ckpt"), resumed = dir.resolve("c.ckpt");
        String[] common = {"--model", model.toString(), "--text", text.toString(), "--seq-len", "24", "--batch", "3", "--steps", "6", "--seed", "5"};
        assertEquals(0, train(concat(common, "--out", dir.resolve("a.gguf").toString(), "--checkpoint", straight.toString(), "--threads", "2")).exitCode());
        assertEquals(0, train(concat(common, "--out", dir.resolve("b.gguf").toString(), "--checkpoint", oneThread.toString(), "--threads", "1")).exitCode());
        // stop after 3 steps: a run of 6 steps interrupted is what --steps 6 with a checkpoint at step 3 leaves
        TrainingCheckpoint a = TrainingCheckpoint.read(straight);
        assertEquals(6, a.step());
        assertArrayEquals(a.params(), TrainingCheckpoint.read(oneThread).params());
        // first half, stopped by a checkpoint-every 3 run killed after step 3: emulate with the Trainer directly
        // loaded as train loads it: an f32 KV cache, the teacher's keys unrounded
        try (Model m = Model.load(model, new LoadOptions(0, io.github.tokenbutler.runtime.Llama3.KvType.F32, io.github.tokenbutler.runtime.Llama3.KvType.F32)); Trainer trainer = new Trainer(a.config(), a.options(), 2)) {
            TeacherForcing teacher = new TeacherForcing(m);
            TrainingData data = TrainingData.read(text, "--text", m.tokenizer(), 24, 0, 5);
            Trainer.State s = new Trainer.State(trainer.layout().flatten(io.github.tokenbutler.plugin.predictor.PredictorWeights.random(a.config(), 5)),
                    new AdamW(trainer.layout(), a.options().weightDecay()), 0);
            trainer.run(s, data, teacher::run, (st, meas, lr, norm) -> { if (st.step == 3) trainer.requestStop(); });
            assertEquals(3, s.step);
            trainer.checkpoint(s, "tiny").write(resumed);
        }
        assertEquals(0, train("--model", model.toString(), "--text", text.toString(), "--out", dir.resolve("c.gguf").toString(),
                "--resume", resumed.toString(), "--checkpoint", resumed.toString()).exitCode());
        TrainingCheckpoint c = TrainingCheckpoint.read(resumed);
        assertEquals(6, c.step());
        assertArrayEquals(a.params(), c.params());
        assertArrayEquals(a.m(), c.m());
        assertArrayEquals(Files.readAllBytes(dir.resolve("a.gguf")), Files.readAllBytes(dir.resolve("c.gguf")));
    }

    @Test
    void theRevisedPredictorTrainsToALoadableFileAndResumesToTheSameBits() throws Exception {
        Path model = SharedData.testModel("tiny-f32.gguf"), text = tinyText();
        Path straight = dir.resolve("v2a.ckpt"), resumed = dir.resolve("v2c.ckpt"), out = dir.resolve("v2a.gguf");
        String[] common = {"--model", model.toString(), "--text", text.toString(), "--seq-len", "24", "--batch", "3", "--steps", "6", "--seed", "5",
                "--arch", "v2", "--spacing", "2"};
        CommandRunner.Output r = train(concat(common, "--out", out.toString(), "--checkpoint", straight.toString()));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("v2 predictor for"), r.out());
        TrainingCheckpoint a = TrainingCheckpoint.read(straight);
        assertNotNull(a.revised());
        assertEquals(2, a.revised().producerSpacing());
        try (Model m = Model.load(model, new LoadOptions(0, io.github.tokenbutler.runtime.Llama3.KvType.F32, io.github.tokenbutler.runtime.Llama3.KvType.F32));
             Trainer trainer = new Trainer(a.revised(), a.options(), 2)) {
            io.github.tokenbutler.plugin.predictor.RevisedPredictor.load(out, m.info()); // refuses a broken file or another model
            TeacherForcing teacher = new TeacherForcing(m, 2, true);
            TrainingData data = TrainingData.read(text, "--text", m.tokenizer(), 24, 0, 5);
            Trainer.State s = new Trainer.State(trainer.layout().flatten(
                    io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights.random(a.revised(), 5).byName()),
                    new AdamW(trainer.layout(), a.options().weightDecay()), 0);
            trainer.run(s, data, teacher::run, (st, meas, lr, norm) -> { if (st.step == 3) trainer.requestStop(); });
            trainer.checkpoint(s, "tiny").write(resumed);
        }
        assertEquals(0, train("--model", model.toString(), "--text", text.toString(), "--out", dir.resolve("v2c.gguf").toString(),
                "--resume", resumed.toString(), "--checkpoint", resumed.toString()).exitCode());
        TrainingCheckpoint c = TrainingCheckpoint.read(resumed);
        assertEquals(6, c.step());
        assertArrayEquals(a.params(), c.params());
        assertArrayEquals(Files.readAllBytes(out), Files.readAllBytes(dir.resolve("v2c.gguf")));
        assertMessage("--reduction is for --arch v1 only", concat(common, "--out", out.toString(), "--reduction", "2"));
        // --type F16: the same training written in half precision, loaded with its projections kept as halves
        Path half = dir.resolve("v2h.gguf");
        assertEquals(0, train(concat(common, "--out", half.toString(), "--type", "f16")).exitCode());
        try (Model m = Model.load(model, LoadOptions.defaults())) {
            var inHalves = io.github.tokenbutler.plugin.predictor.RevisedPredictor.load(half, m.info());
            var inFloats = io.github.tokenbutler.plugin.predictor.RevisedPredictor.load(out, m.info());
            assertTrue(inHalves.inF16());
            for (var e : inFloats.weights().byName().entrySet()) {
                float[] f = e.getValue(), h = inHalves.weights().byName().get(e.getKey());
                for (int i = 0; i < f.length; i++) assertEquals(Float.float16ToFloat(Float.floatToFloat16(f[i])), h[i], e.getKey() + "[" + i + "]");
            }
        }
    }

    /** A checkpoint from before --loss existed ("TBTRAIN1", no loss field) continues as what it was: mse. */
    @Test
    void checkpointFromBeforeTheLossOptionResumesAsMse() throws Exception {
        Path model = SharedData.testModel("tiny-f32.gguf"), ckpt = dir.resolve("new.ckpt"), old = dir.resolve("old.ckpt");
        assertEquals(0, train("--model", model.toString(), "--text", tinyText().toString(), "--out", dir.resolve("p.gguf").toString(),
                "--seq-len", "16", "--steps", "2", "--batch", "1", "--loss", "mse", "--checkpoint", ckpt.toString()).exitCode());
        byte[] now = Files.readAllBytes(ckpt);
        // The loss is the UTF string right after the seed: a 2-byte length and "mse". Cut it out, restore the old magic.
        byte[] lossField = {0, 3, 'm', 's', 'e'};
        int at = indexOf(now, lossField);
        assertTrue(at > 0 && indexOf(java.util.Arrays.copyOfRange(now, at + 1, now.length), lossField) < 0, "one loss field");
        byte[] before = new byte[now.length - lossField.length];
        System.arraycopy(now, 0, before, 0, at);
        System.arraycopy(now, at + lossField.length, before, at, now.length - at - lossField.length);
        System.arraycopy("TBTRAIN1".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1), 0, before, 0, 8);
        Files.write(old, before);
        TrainingCheckpoint read = TrainingCheckpoint.read(old), original = TrainingCheckpoint.read(ckpt);
        assertEquals(original.options(), read.options());
        assertArrayEquals(original.params(), read.params());
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    @Test
    void clearErrors() throws Exception {
        Path model = SharedData.testModel("tiny-f32.gguf"), other = SharedData.testModel("tiny-mha-f32.gguf");
        Path empty = dir.resolve("empty.txt"), shortText = dir.resolve("short.txt");
        Files.writeString(empty, "\n<|endoftext|>\n");
        Files.writeString(shortText, "Hi.");
        String out = dir.resolve("p.gguf").toString();
        assertMessage("holds no text", "--model", model.toString(), "--text", empty.toString(), "--out", out);
        assertMessage("too short", "--model", model.toString(), "--text", shortText.toString(), "--out", out, "--seq-len", "64");
        assertMessage("larger than the model's context", "--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--seq-len", "512");
        assertMessage("does not exist", "--model", model.toString(), "--text", tinyText().toString(), "--out", dir.resolve("no/such/p.gguf").toString());
        assertMessage("--loss must be one of [mse, kl], got 'l1'", "--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--loss", "l1");
        assertMessage("train: option --type must be one of [F32, F16], got 'Q8_0'", "--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--type", "Q8_0");
        assertMessage("--steps expects an integer from 1 to", "--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--steps", "0");
        Path ckpt = dir.resolve("x.ckpt");
        assertEquals(0, train("--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--seq-len", "16", "--steps", "1",
                "--batch", "1", "--checkpoint", ckpt.toString()).exitCode());
        assertMessage("is a checkpoint for model", "--model", other.toString(), "--text", tinyText().toString(), "--out", out, "--resume", ckpt.toString());
        assertMessage("hyper-parameters come from the checkpoint", "--model", model.toString(), "--text", tinyText().toString(), "--out", out,
                "--resume", ckpt.toString(), "--lr", "0.1");
        assertMessage("not a training checkpoint", "--model", model.toString(), "--text", tinyText().toString(), "--out", out, "--resume", model.toString());
    }

    private void assertMessage(String expected, String... argv) {
        UserError e = assertThrows(UserError.class, () -> train(argv));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
