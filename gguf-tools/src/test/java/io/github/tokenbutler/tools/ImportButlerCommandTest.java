package io.github.tokenbutler.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;
import io.github.tokenbutler.plugin.predictor.Predictor;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedPredictor;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.IntStream;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code import-butler} on checkpoints written by real PyTorch (torch 1.13, Debian's) from random weights in the
 * authors' state-dict layouts, for a tiny model shape of ours (E 64, 4 layers, 4/2 heads of 16, RoPE base 500000).
 * The fixtures and their expected logits come from {@code make_butler_fixtures.py} beside them in the test
 * resources: a float64 reference written from the authors' equations (their module itself needs transformers and
 * Triton, which Debian's torch does not bring, so it was not run). Our imported predictor, run in float32, must give
 * the same logits to 1e-5 of the largest |logit| (measured: about 1e-7) and the same top-half selections.
 */
class ImportButlerCommandTest {
    static final String RESOURCES = "/io/github/tokenbutler/checkpoint/";
    static final double TOLERANCE = 1e-5;
    @TempDir static Path dir;
    static Path model, quantized, otherWeights, otherShape;
    static JsonNode expected;

    @BeforeAll static void models() throws IOException {
        model = dir.resolve("tiny.gguf");
        quantized = dir.resolve("tiny-q8.gguf");
        otherWeights = dir.resolve("tiny-seed9.gguf");
        otherShape = dir.resolve("tiny-8heads.gguf");
        assertEquals(0, run("synth", "--dims", "64,128,4,4,2,300", "--rope-theta", "500000", model.toString()).code());
        assertEquals(0, run("synth", "--dims", "64,128,4,4,2,300", "--rope-theta", "500000", "--type", "Q8_0", quantized.toString()).code());
        assertEquals(0, run("synth", "--dims", "64,128,4,4,2,300", "--rope-theta", "500000", "--seed", "9", otherWeights.toString()).code());
        assertEquals(0, run("synth", "--dims", "64,128,4,8,2,300", "--rope-theta", "500000", otherShape.toString()).code());
        for (String f : new String[]{"v1_butler.pt", "v1_butler.safetensors", "v2_butler_kv_heads.pt", "v2_butler_query_heads.pt",
                "not_a_state_dict.pt", "v1_missing_tensor.pt", "v1_extra_tensor.pt", "v1_with_other_class.pt"}) {
            try (InputStream in = ImportButlerCommandTest.class.getResourceAsStream(RESOURCES + f)) {
                Files.write(dir.resolve(f), in.readAllBytes());
            }
        }
        try (InputStream in = ImportButlerCommandTest.class.getResourceAsStream(RESOURCES + "expected_logits.json")) {
            expected = new ObjectMapper().readTree(in);
        }
    }

    /** The fixture's hyper-parameters, which are not the published defaults (d' 16, I 512, G 4). */
    static final String[] TINY = {"--d-prime", "8", "--importance-hidden", "32"};

    static Path importFile(String checkpoint, String out, String... more) {
        String[] options = java.util.stream.Stream.concat(Arrays.stream(TINY), Arrays.stream(more)).toArray(String[]::new);
        String[] argv = new String[6 + options.length];
        System.arraycopy(new String[]{"import-butler", dir.resolve(checkpoint).toString(), "--model", model.toString(), "--out",
                dir.resolve(out).toString()}, 0, argv, 0, 6);
        System.arraycopy(options, 0, argv, 6, options.length);
        CliErrorsTest.Result r = run(argv);
        assertEquals(0, r.code(), r.err());
        return dir.resolve(out);
    }

    static float[] floats(JsonNode rows) {
        int cols = rows.get(0).size();
        float[] a = new float[rows.size() * cols];
        for (int i = 0; i < rows.size(); i++) for (int j = 0; j < cols; j++) a[i * cols + j] = (float) rows.get(i).get(j).asDouble();
        return a;
    }

    /** Our scores against expected [layer][head][i][0..i] from layer `fromLayer` on; returns {worst |Δ| / max |logit|, selections differing}. */
    interface Scores { void row(int i, int layer, int head, int count, float[] out); }

    static double[] compare(JsonNode logits, int fromLayer, Scores ours) {
        int layers = logits.size(), heads = logits.get(0).size(), n = logits.get(0).get(0).size();
        double max = 0, worst = 0;
        for (JsonNode l : logits) for (JsonNode h : l) for (JsonNode row : h) for (JsonNode v : row) max = Math.max(max, Math.abs(v.asDouble()));
        int differing = 0, compared = 0;
        float[] out = new float[n];
        for (int layer = fromLayer; layer < layers; layer++) {
            for (int head = 0; head < heads; head++) {
                for (int i = 0; i < n; i++) {
                    ours.row(i, layer, head, i + 1, out);
                    JsonNode row = logits.get(layer).get(head).get(i);
                    double[] ref = new double[i + 1];
                    for (int j = 0; j <= i; j++) {
                        ref[j] = row.get(j).asDouble();
                        worst = Math.max(worst, Math.abs(out[j] - ref[j]));
                    }
                    int keep = (i + 2) / 2;   // the top half, rounded up, of the i + 1 visible keys
                    if (!Arrays.equals(top(ref, keep), top(toDouble(out, i + 1), keep))) differing++;
                    compared++;
                }
            }
        }
        System.out.printf(Locale.ROOT, "imported predictor vs the float64 reference: worst |logit difference| %.2e of max |logit| %.3f, "
                + "%d of %d top-half selections differ%n", worst / max, max, differing, compared);
        return new double[]{worst / max, differing};
    }

    static double[] toDouble(float[] a, int n) { return IntStream.range(0, n).mapToDouble(i -> a[i]).toArray(); }

    static int[] top(double[] v, int k) {
        return IntStream.range(0, v.length).boxed().sorted(Comparator.comparingDouble(j -> -v[j])).limit(k).mapToInt(Integer::intValue).sorted().toArray();
    }

    static Predictor load(Path predictor, Path modelFile) {
        try (Model m = Model.load(modelFile, LoadOptions.defaults())) {
            return Predictor.load(predictor, m.info());
        }
    }

    static void assertV1Logits(Path predictor) {
        TokenButlerPredictor p = assertInstanceOf(TokenButlerPredictor.class, load(predictor, model));
        assertTrue(p.config().residualNorm() && p.config().ropeScaling() != null, "norm2 applied and RoPE scaled: " + p.config());
        JsonNode v1 = expected.get("v1");
        float[] x = floats(v1.get("inputs"));
        int n = v1.get("inputs").size();
        ImportanceState s = p.newState(n, KeyPrecision.F32);
        s.append(0, n, x);
        double[] r = compare(v1.get("logits"), 0, s::scores);
        assertTrue(r[0] <= TOLERANCE, "logits within " + TOLERANCE + " of the largest: " + r[0]);
        assertEquals(0, r[1], "selections that differ");
    }

    @Test void v1TorchSaveGivesTheReferenceLogits() {
        assertV1Logits(importFile("v1_butler.pt", "v1.butler.gguf"));
    }

    @Test void v1SafetensorsHuggingFaceLayoutGivesTheSameLogits() {
        assertV1Logits(importFile("v1_butler.safetensors", "v1s.butler.gguf"));
    }

    /** v2 inputs: each layer's attention input and post-RoPE keys, fed as the hook would. */
    static RevisedImportanceState runV2(Path predictor) {
        RevisedPredictor p = assertInstanceOf(RevisedPredictor.class, load(predictor, model));
        assertEquals(1, p.config().consumerOffset());
        JsonNode v2 = expected.get("v2");
        int layers = v2.get("inputs").size(), n = v2.get("inputs").get(0).size();
        RevisedImportanceState s = p.newState(n, KeyPrecision.F32);
        for (int l = 0; l < layers; l++) {
            s.producerInput(l, 0, n, floats(v2.get("inputs").get(l)));
            JsonNode k = v2.get("keys").get(l);            // [T][KV][HS]
            int kv = k.get(0).size(), hs = k.get(0).get(0).size();
            float[] rows = new float[n * kv * hs];
            for (int t = 0; t < n; t++) for (int h = 0; h < kv; h++) for (int d = 0; d < hs; d++) rows[(t * kv + h) * hs + d] = (float) k.get(t).get(h).get(d).asDouble();
            s.keysWritten(l, 0, n, KvRows.wrap(rows, kv * hs));
        }
        return s;
    }

    @Test void v2KvHeadCheckpointGivesTheReferenceLogits() {
        RevisedImportanceState s = runV2(importFile("v2_butler_kv_heads.pt", "v2.butler.gguf", "--spacing", "2"));
        double[] r = compare(expected.get("v2").get("logits_kv_heads"), 1, s::scores);
        assertTrue(r[0] <= TOLERANCE, "logits within " + TOLERANCE + " of the largest: " + r[0]);
        assertEquals(0, r[1], "selections that differ");
    }

    @Test void v2QueryHeadCheckpointNeedsMeanKeyHeadsAndThenGivesTheAveragedLogits() {
        assertUserError(run("import-butler", dir.resolve("v2_butler_query_heads.pt").toString(), "--model", model.toString(), "--out",
                dir.resolve("x.gguf").toString(), "--d-prime", "8", "--importance-hidden", "32", "--spacing", "2"),
                "one projection per query head", "--mean-key-heads");
        assertTrue(Files.notExists(dir.resolve("x.gguf")), "nothing written on a refusal");
        RevisedImportanceState s = runV2(importFile("v2_butler_query_heads.pt", "v2h.butler.gguf", "--spacing", "2", "--mean-key-heads"));
        double[] r = compare(expected.get("v2").get("logits_query_heads_mean"), 1, s::scores);
        assertTrue(r[0] <= TOLERANCE, "logits within " + TOLERANCE + " of the averaged reference: " + r[0]);
        assertEquals(0, r[1]);
        // how far the averaging moves the logits from the per-head ones (printed, not asserted: random weights make it large)
        compare(expected.get("v2").get("logits_query_heads"), 1, s::scores);
    }

    @Test void importedPredictorLoadsWithOtherGgufsOfTheSameModelAndSaysSo() {
        Path p = importFile("v1_butler.pt", "v1q.butler.gguf");
        assertInstanceOf(TokenButlerPredictor.class, load(p, quantized));         // same vocabulary, close weights
        assertInstanceOf(TokenButlerPredictor.class, load(p, otherWeights));      // same name and shapes, other weights
        UserError e = assertThrows(UserError.class, () -> load(p, otherShape));
        assertTrue(e.getMessage().contains("the shapes differ"), e.getMessage());
        // the provenance is in the file
        try (var g = io.github.tokenbutler.runtime.Llama3.GGUF.read(p)) {
            assertEquals("v1_butler.pt", g.get("tokenbutler.import.source"));
            assertTrue(((String) g.get("tokenbutler.origin")).startsWith("imported from v1_butler.pt (torch.save zip, sha256 "));
            assertEquals(3L, g.getLong("tokenbutler.format_version", -1));
        }
    }

    @Test void refusals() throws IOException {
        String out = dir.resolve("refused.gguf").toString();
        assertUserError(run("import-butler", dir.resolve("not_a_state_dict.pt").toString(), "--model", model.toString(), "--out", out),
                "single tensor, not a state dict");
        assertUserError(run("import-butler", dir.resolve("v1_with_other_class.pt").toString(), "--model", model.toString(), "--out", out),
                "'__builtin__.print' is not one a state dict needs", "at byte", "nothing from this file is run");
        assertUserError(run("import-butler", dir.resolve("v1_missing_tensor.pt").toString(), "--model", model.toString(), "--out", out),
                "missing predictor tensor", "norm1.bias");
        assertUserError(run("import-butler", dir.resolve("v1_extra_tensor.pt").toString(), "--model", model.toString(), "--out", out),
                "o_proj_attn.weight", "not part of the architecture");
        // a model of another shape (8 heads of 8): the shapes give d' 4 there, not the 8 asked for
        assertUserError(run("import-butler", dir.resolve("v1_butler.pt").toString(), "--model", otherShape.toString(), "--out", out, "--d-prime", "8",
                "--importance-hidden", "32"), "d' is 4 in the checkpoint's shapes", "--d-prime 4");
        assertUserError(run("import-butler", dir.resolve("v1_butler.pt").toString(), "--model", model.toString(), "--out", out, "--arch", "v2"),
                "--arch v2 was given but the checkpoint holds a v1 predictor");
        assertUserError(run("import-butler", dir.resolve("v1_butler.pt").toString(), "--model", model.toString(), "--out", out),
                "d' is 8 in the checkpoint's shapes for the model given, but --d-prime is 16 (the published default");
        // a v2 file without the v2 architecture: producer MLPs but no key projection (their 'slice' variant)
        Path slice = dir.resolve("v2_slice.safetensors");
        writeSafetensors(slice, "sparse_token_predictor.q_mlps.0.0.weight", new long[]{32, 64},
                "sparse_token_predictor.q_mlps.0.2.weight", new long[]{64, 32},
                "sparse_token_predictor.norm_importance.weight", new long[]{64}, "sparse_token_predictor.norm_importance.bias", new long[]{64});
        assertUserError(run("import-butler", slice.toString(), "--model", model.toString(), "--out", out), "no sparse_token_predictor.key_cache_proj",
                "not the v2 architecture");
        Path garbage = dir.resolve("garbage.bin");
        Files.write(garbage, "hello, not a checkpoint".getBytes(StandardCharsets.UTF_8));
        assertUserError(run("import-butler", garbage.toString(), "--model", model.toString(), "--out", out), "neither a torch.save file");
        assertTrue(Files.notExists(Path.of(out)), "nothing written on a refusal");
    }

    /** Shapes no real checkpoint has (a d' of 0, a dimension beyond an int) are refused with the shape, not an arithmetic exception. */
    @Test void malformedShapesAreRefusedWithTheShape() throws IOException {
        String out = dir.resolve("malformed.gguf").toString();
        Path zeroDPrime = dir.resolve("v2_zero_d_prime.safetensors");
        writeSafetensors(zeroDPrime, "sparse_token_predictor.q_mlps.0.0.weight", new long[]{32, 64},
                "sparse_token_predictor.q_mlps.0.2.weight", new long[]{64, 32}, "sparse_token_predictor.key_cache_proj", new long[]{4, 2, 16, 0},
                "sparse_token_predictor.norm_importance.weight", new long[]{64}, "sparse_token_predictor.norm_importance.bias", new long[]{64});
        assertUserError(run("import-butler", zeroDPrime.toString(), "--model", model.toString(), "--out", out),
                "key_cache_proj' has shape [4, 2, 16, 0]", "d' >= 1");
        Path wide = dir.resolve("v2_wide.safetensors");
        writeSafetensors(wide, "sparse_token_predictor.q_mlps.0.0.weight", new long[]{1L << 40, 0},
                "sparse_token_predictor.q_mlps.0.2.weight", new long[]{64, 32}, "sparse_token_predictor.key_cache_proj", new long[]{4, 2, 16, 8},
                "sparse_token_predictor.norm_importance.weight", new long[]{64}, "sparse_token_predictor.norm_importance.bias", new long[]{64});
        assertUserError(run("import-butler", wide.toString(), "--model", model.toString(), "--out", out),
                "q_mlps.0.0.weight' has shape [1099511627776, 0]", "below 2^31");
        Path noRows = dir.resolve("v1_no_rows.safetensors");
        writeSafetensors(noRows, "input_proj.weight", new long[]{16, 64}, "q_proj_attn.weight", new long[]{16, 16}, "k_proj_attn.weight", new long[]{16, 16},
                "v_proj_attn.weight", new long[]{16, 16}, "norm1.weight", new long[]{16}, "norm1.bias", new long[]{16},
                "ffn.0.weight", new long[]{32, 16}, "ffn.0.bias", new long[]{32}, "ffn.2.weight", new long[]{64, 32}, "ffn.2.bias", new long[]{64},
                "q_proj_importance.0.weight", new long[]{32, 64}, "q_proj_importance.2.weight", new long[]{0, 32},
                "k_proj_importance.0.weight", new long[]{32, 64}, "k_proj_importance.2.weight", new long[]{0, 32});
        assertUserError(run("import-butler", noRows.toString(), "--model", model.toString(), "--out", out), "q_proj_importance.2.weight' has 0 rows");
        assertTrue(Files.notExists(Path.of(out)), "nothing written on a refusal");
    }

    /** A safetensors file of zeros with the given (name, shape) pairs: the format's header and raw F32 data. */
    static void writeSafetensors(Path file, Object... namesAndShapes) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (int i = 0; i < namesAndShapes.length; i += 2) {
            long[] shape = (long[]) namesAndShapes[i + 1];
            long bytes = 4 * Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            if (i > 0) header.append(',');
            header.append('"').append(namesAndShapes[i]).append("\":{\"dtype\":\"F32\",\"shape\":").append(Arrays.toString(shape).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(file, b.array());
    }
}
