package io.github.tokenbutler.tools;

import io.github.tokenbutler.eval.CommandRunner;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class EvalCommandTest {
    private static Path model() { return SharedData.require("models/stories260K/stories260K.gguf"); }
    private static Path valid() { return SharedData.require("data/tinystories/valid.txt"); }

    private static UserError userError(String... argv) {
        return assertThrows(UserError.class, () -> CommandRunner.run(EvalCommand::new, argv));
    }

    // ---- option errors: all found before the model is loaded ----

    @Test
    void unknownPolicyListsTheKnownOnes() {
        UserError e = userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "512", "--policies", "dense,snapkv");
        assertTrue(e.getMessage().contains("unknown policy 'snapkv'"), e.getMessage());
        assertTrue(e.getMessage().contains("dense, oracle, tokenbutler, h2o, streaming, quest, random"), e.getMessage());
    }

    @Test
    void tokenbutlerWithoutPredictorIsRefused() {
        UserError e = userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "512", "--policies", "tokenbutler");
        assertTrue(e.getMessage().contains("tokenbutler needs --predictor"), e.getMessage());
    }

    @Test
    void missingPredictorFileIsRefused(@TempDir Path dir) {
        UserError e = userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "512",
                "--predictor", dir.resolve("none.gguf").toString());
        assertTrue(e.getMessage().contains("--predictor file not found"), e.getMessage());
    }

    @Test
    void ctxIsRequiredAndChecked() {
        assertTrue(userError("--model", model().toString(), "--text", valid().toString()).getMessage().contains("--context is required"));
        assertTrue(userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "1").getMessage().contains("--context"));
        assertTrue(userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "big").getMessage().contains("integer"));
    }

    @Test
    void badSparsityIsRefused() {
        UserError e = userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "512", "--sparsity", "0.5,1");
        assertTrue(e.getMessage().contains("between 0 and 1"), e.getMessage());
    }

    @Test
    void missingFilesAndUnknownOptionsAreRefused(@TempDir Path dir) {
        assertTrue(userError("--model", dir.resolve("m.gguf").toString(), "--text", valid().toString(), "--ctx", "8")
                .getMessage().contains("model file not found"));
        assertTrue(userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "8", "--chunks", "3")
                .getMessage().contains("unknown option --chunks"));
        assertTrue(userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "8", "--out", dir.resolve("no/x.csv").toString())
                .getMessage().contains("does not exist"));
    }

    @Test
    void emptyTextIsRefused(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n<|endoftext|>\n  \n");
        UserError e = userError("--model", model().toString(), "--text", empty.toString(), "--ctx", "64");
        assertTrue(e.getMessage().contains("holds no text"), e.getMessage());
    }

    @Test
    void vizOptionsAreChecked() {
        String[] base = {"--model", model().toString(), "--text", valid().toString(), "--ctx", "64"};
        assertTrue(userError(concat(base, "--viz-layer", "2")).getMessage().contains("only applies with --viz"));
        assertTrue(userError(concat(base, "--viz", "v.png", "--viz-policy", "dense")).getMessage().contains("nothing to show"));
        assertTrue(userError(concat(base, "--viz", "v.png", "--viz-policy", "tokenbutler")).getMessage().contains("--predictor"));
        assertTrue(userError(concat(base, "--viz", "v.png", "--viz-policy", "nope")).getMessage().contains("known policies"));
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void usageNamesEveryOption() {
        String u = new EvalCommand().usage();
        for (String o : List.of("--model", "--text", "--ctx", "--policies", "--sparsity", "--predictor", "--max-chunks", "--out", "--plot",
                "--viz", "--viz-policy", "--viz-sparsity", "--viz-layer", "--viz-head", "--viz-chunk", "--force-ctx", "--attention-opt")) {
            assertTrue(u.contains(o), o);
        }
    }

    // ---- end to end on stories260K (skipped while the runtime/plugin are stubs) ----

    @Test
    void densePerplexityOfStories260KIsSane(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("dense.csv");
        var r = CommandRunner.run(EvalCommand::new, "--model", model().toString(), "--text", valid().toString(), "--ctx", "512",
                "--force-ctx", "--policies", "dense", "--max-chunks", "8", "--out", csv.toString());
        assertEquals(0, r.exitCode());
        List<String> lines = Files.readAllLines(csv);
        assertEquals(2, lines.size(), "header + dense: " + lines);
        String[] f = lines.get(1).split(",");
        double ppl = Double.parseDouble(f[5]);
        // llama2.c documents 1.2968 nats/token (perplexity ~3.66) on clean TinyStories; valid.txt's dialogue is full
        // of mojibake quotes the 512-token vocabulary spells as unseen bytes, so it scores higher: an independent
        // reference forward gives 6.400 on these 8 chunks (6.882 on all of valid.txt, docs/EVALUATION.md).
        assertTrue(ppl > 5.9 && ppl < 6.9, "dense perplexity " + ppl + "\n" + r.out());
        assertEquals(8L * 511, Long.parseLong(f[8]));
        assertEquals("0", f[2]);
        assertEquals("1.000000", f[7]);
    }

    /**
     * The committed v2 predictor (test-models/README.md has its training command) keeps its measured quality: on
     * 4 chunks of valid.txt at 50% sparsity it beats streaming and keeps a hit-rate near the 0.896 measured on 20
     * chunks (README, "stories260K").
     */
    @Test
    void theCommittedV2PredictorBeatsStreamingOnStories260K(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("v2.csv");
        var r = CommandRunner.run(EvalCommand::new, "--model", model().toString(), "--text", valid().toString(), "--context", "512",
                "--force-ctx", "--policies", "streaming,tokenbutler", "--sparsity", "0.5", "--max-chunks", "4",
                "--predictor", SharedData.testModel("stories260K.butler-v2.gguf").toString(), "--out", csv.toString());
        assertEquals(0, r.exitCode(), r.err());
        List<String> lines = Files.readAllLines(csv);
        String[] streaming = row(lines, "streaming"), tokenbutler = row(lines, "tokenbutler");
        assertTrue(Double.parseDouble(tokenbutler[5]) < Double.parseDouble(streaming[5]) - 0.05, lines.toString());
        assertTrue(Double.parseDouble(tokenbutler[7]) > 0.85, lines.toString());
    }

    private static String[] row(List<String> csv, String policy) {
        return csv.stream().map(l -> l.split(",")).filter(f -> f[1].equals(policy)).findFirst().orElseThrow(() -> new AssertionError(policy + " in " + csv));
    }

    @Test
    void policiesCsvPlotAndVizOnStories260K(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("results.csv"), plot = dir.resolve("results.png"), viz = dir.resolve("viz.png");
        var r = CommandRunner.run(EvalCommand::new, "--model", model().toString(), "--text", valid().toString(), "--ctx", "512",
                "--force-ctx", "--policies", "dense,oracle,h2o,streaming,quest,random", "--sparsity", "0.5,0.75", "--max-chunks", "3",
                "--out", csv.toString(), "--plot", plot.toString(),
                "--viz", viz.toString(), "--viz-policy", "oracle", "--viz-sparsity", "0.5", "--viz-layer", "1", "--viz-head", "0");
        assertEquals(0, r.exitCode());
        List<String> lines = Files.readAllLines(csv);
        assertEquals("model,policy,sparsity,effective_sparsity_sparse_layers,effective_sparsity_all_layers,perplexity,delta_vs_dense,hit_rate,tokens", lines.get(0));
        assertEquals(1 + 1 + 5 * 2, lines.size(), "header, dense once, 5 policies x 2 sparsities");
        Map<String, Double> ppl = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            assertEquals("stories260K", f[0]);
            ppl.put(f[1] + "@" + f[2], Double.parseDouble(f[5]));
            assertEquals(3L * 511, Long.parseLong(f[8]));
        }
        double dense = ppl.get("dense@0"), oracle = ppl.get("oracle@0.5"), random = ppl.get("random@0.5");
        assertTrue(oracle >= dense, "oracle@0.5 " + oracle + " >= dense " + dense);
        assertTrue(oracle <= random, "oracle@0.5 " + oracle + " <= random@0.5 " + random);
        assertTrue(r.out().contains("oracle") && r.out().contains("perplexity"), r.out());
        for (Path png : List.of(plot, viz)) {
            BufferedImage img = ImageIO.read(png.toFile());
            assertNotNull(img, png + " decodes");
            assertTrue(img.getWidth() > 100 && img.getHeight() > 100);
        }
    }

    @Test
    void ctxLargerThanTheModelsContextIsRefused() {
        // stories260K.gguf declares llama.context_length 128 (llama.cpp's convert-llama2c default).
        UserError e = userError("--model", model().toString(), "--text", valid().toString(), "--ctx", "512", "--policies", "dense");
        assertTrue(e.getMessage().contains("--context 512 is larger than the model's context") && e.getMessage().contains("128")
                && e.getMessage().contains("--force-ctx"), e.getMessage());
    }

    @Test
    void textShorterThanOneChunkIsRefused(@TempDir Path dir) throws Exception {
        Path tiny = Files.writeString(dir.resolve("tiny.txt"), "Once upon a time there was a cat.\n");
        UserError e = CommandRunner.expect(UserError.class, () -> CommandRunner.run(EvalCommand::new,
                "--model", model().toString(), "--text", tiny.toString(), "--ctx", "512", "--force-ctx", "--policies", "dense"));
        assertTrue(e.getMessage().contains("too short"), e.getMessage());
    }

    @Test
    void deterministic(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.csv"), b = dir.resolve("b.csv");
        for (Path p : List.of(a, b)) {
            CommandRunner.run(EvalCommand::new, "--model", model().toString(), "--text", valid().toString(), "--ctx", "256",
                    "--force-ctx", "--policies", "dense,oracle,random", "--sparsity", "0.5", "--max-chunks", "2", "--out", p.toString());
        }
        assertEquals(Files.readString(a), Files.readString(b));
    }
}
