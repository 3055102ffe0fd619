package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.tools.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `./tokenbutler synth-predictor` on stories260K, end to end through the runtime, and its option errors. */
class SynthPredictorCommandTest {
    @TempDir Path dir;

    record Result(int code, String out, String err) {}

    static Result run(String... argv) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run(argv);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Records the layer-0 attention inputs the runtime hands a hook; attention itself stays dense. */
    static final class Layer0Recorder implements AttentionHook.Attention {
        final List<float[]> inputs = new ArrayList<>();
        final List<int[]> calls = new ArrayList<>();
        final int dim;

        Layer0Recorder(int dim) { this.dim = dim; }

        @Override public void resetSequence() { inputs.clear(); calls.clear(); }

        @Override public void attentionInput(int layer, int startPos, int nTokens, float[] x) {
            if (layer != 0) return;
            inputs.add(Arrays.copyOf(x, nTokens * dim));
            calls.add(new int[]{startPos, nTokens});
        }

        @Override public boolean attend(int layer, int startPos, int nTokens, float[] q, io.github.tokenbutler.runtime.Llama3.KvRows keyCache, io.github.tokenbutler.runtime.Llama3.KvRows valueCache, float[] out) {
            return false;
        }
    }

    @Test @Timeout(300) void writesAPredictorThatRunsOnTheRuntimesLayer0Inputs() throws Exception {
        Path out = dir.resolve("stories.butler.gguf");
        Path model = StoriesModel.path();
        Result r = run("synth-predictor", "--model", model.toString(), "--out", out.toString(), "--seed", "4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + out + ": random TokenButler predictor for 'stories260K' (d' 8, r 4, importance hidden 64, "
                + "8 attention heads), 53,632 parameters"), r.out());
        try (Model m = Model.load(model, new LoadOptions(256))) {
            TokenButlerPredictor p = TokenButlerPredictor.load(out, m.info());
            PredictorConfig c = p.config();
            assertEquals(m.config().dim(), c.modelDim());

            // Prefill 40 tokens, then decode 8 one at a time, recording what the runtime gives the hook.
            int[] tokens = new int[48];
            for (int i = 0; i < tokens.length; i++) tokens[i] = (1 + 37 * i) % c.modelVocab();
            Layer0Recorder rec = new Layer0Recorder(c.modelDim());
            var state = m.newState(rec);
            m.forward(state, tokens, 0, 40, 0, false);
            for (int t = 40; t < 48; t++) m.forward(state, tokens, t, 1, t, false);
            float[] x = new float[48 * c.modelDim()];
            for (int k = 0; k < rec.calls.size(); k++) {
                int[] call = rec.calls.get(k);
                System.arraycopy(rec.inputs.get(k), 0, x, call[0] * c.modelDim(), call[1] * c.modelDim());
            }
            // The runtime's layer-0 inputs are the embedding rows after RMSNorm, as the predictor tests compute them.
            try (GGUF g = GGUF.read(model)) {
                float[] direct = StoriesModel.layer0Inputs(g, 48);
                for (int i = 0; i < x.length; i++) assertEquals(direct[i], x[i], 1e-5f * (1 + Math.abs(direct[i])), "layer-0 input " + i);
            }

            // The predictor on those inputs, in the same calls: incremental results equal one prefill of all 48.
            ImportanceState incremental = p.newState(256), whole = p.newState(256);
            for (int k = 0; k < rec.calls.size(); k++) incremental.append(rec.calls.get(k)[0], rec.calls.get(k)[1], rec.inputs.get(k));
            whole.append(0, 48, x);
            float[] a = new float[48], b = new float[48];
            for (int l = 0; l < c.modelLayers(); l++) {
                for (int h = 0; h < c.modelHeads(); h++) {
                    incremental.scores(0, l, h, 48, a);
                    whole.scores(47, l, h, 48, b);
                    for (int j = 0; j < 48; j++) {
                        assertTrue(Float.isFinite(a[j]), "finite logits");
                        assertEquals(b[j], a[j], 1e-5f * (1 + Math.abs(b[j])), "layer " + l + " head " + h + " key " + j);
                    }
                }
            }
        }
    }

    @Test void optionsChooseTheShapeAndType() throws Exception {
        Path out = dir.resolve("p16.gguf");
        Result r = run("synth-predictor", "--model", StoriesModel.path().toString(), "--out", out.toString(),
                "--d-prime", "16", "--reduction", "2", "--importance-hidden", "32", "--heads", "4", "--type", "f16");
        assertEquals(0, r.code(), r.err());
        try (GGUF g = GGUF.read(out)) {
            assertEquals(16, g.getLong("tokenbutler.importance.key_length", 0));
            assertEquals(2, g.getLong("tokenbutler.reduction_factor", 0));
            assertEquals(32, g.getLong("tokenbutler.projection_length", 0));
            assertEquals(32, g.getLong("tokenbutler.importance.hidden_length", 0));
            assertEquals(4, g.getLong("tokenbutler.attention.head_count", 0));
            assertTrue(g.tensors().values().stream().allMatch(t -> t.type() == GGMLType.F16));
        }
    }

    private static void assertUserError(Result r, String... fragments) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.err().lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
        assertEquals(1, lines.size(), "one line on stderr, got: " + r.err());
        for (String f : fragments) assertTrue(lines.getFirst().contains(f), "'" + f + "' not in: " + lines.getFirst());
        assertFalse(r.err().contains("\tat "), "stack trace printed: " + r.err());
    }

    @Test void badOptionsAreUserErrors() {
        String model = StoriesModel.path().toString(), out = dir.resolve("x.gguf").toString();
        assertUserError(run("synth-predictor", "--out", out), "option --model is required");
        assertUserError(run("synth-predictor", "--model", model), "option --out is required");
        assertUserError(run("synth-predictor", "--model", dir.resolve("none.gguf").toString(), "--out", out), "file not found");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--d-prime", "7"), "--d-prime must be even", "7");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--type", "Q8_0"), "--type must be one of [F32, F16]", "Q8_0");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--heads", "3"),
                "no reduction factor r in 8, 4, 2, 1 gives 3 attention heads of an even size");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--reduction", "3"), "reduction factor 3 must divide", "64");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--seed", "x"), "--seed expects an integer");
        assertUserError(run("synth-predictor", "--model", model, "--out", out, "--colour", "red"), "unknown option --colour");
        assertFalse(Files.exists(Path.of(out)), "nothing written after an error");
    }
}
