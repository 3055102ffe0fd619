package io.github.tokenbutler.tools;

import io.github.tokenbutler.butlerfile.ButlerImport;
import io.github.tokenbutler.butlerfile.PredictorFileWriter;
import io.github.tokenbutler.checkpoint.Checkpoint;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;

/** `import-butler`: the authors' published TokenButler predictor checkpoint as our predictor file for a GGUF of the same model. */
public final class ImportButlerCommand implements Command, Main.FlagOptions {
    /** The selection settings the authors publish with their predictors (README and model cards): 8 sink tokens, a window of 128. */
    public static final int PUBLISHED_SINKS = 8, PUBLISHED_WINDOW = 128;

    @Override public String name() { return "import-butler"; }

    @Override public String summary() { return "import a published TokenButler predictor checkpoint (torch.save or safetensors)"; }

    @Override public Set<String> flags() { return Set.of("ignore-norm2", "mean-key-heads"); }

    @Override public String usage() {
        return """
                usage: ./tokenbutler import-butler CHECKPOINT --model M.gguf --out M.butler.gguf [options]
                  Reads the authors' predictor checkpoint (a torch.save file: only the state-dict pickle and its tensors
                  are read, nothing in it is run; or a safetensors file, e.g. a Hugging Face model file holding the
                  predictor beside the model) and writes our predictor file for the model: v1 for their v1 predictors
                  (akhauriyash/<model>-Butler), v2 for their v2 ones (Alwahsh/Meta-Llama-3.1-8B-Instruct-Butler).
                  Shapes are checked against the model; the file records the checkpoint's name and SHA-256 and loads
                  with any GGUF of the same base model (another quantization or conversion).
                  --arch v1|v2           refuse a checkpoint of the other architecture (default: as found)
                  The checkpoint does not record d', I or G: they come from these options, whose defaults are the
                  published ones, and must agree with the tensor shapes for the model (a refusal says what they give).
                  --d-prime D            d' (default 16; some published 8B v1 predictors use 32)
                  --importance-hidden I  importance MLP hidden length (default 512; some use 1024)
                  --spacing G            v2: layers per producer (default 4; v1 has one producer for all layers)
                  --heads N              v1: heads of the predictor's attention block (default: the model's query heads,
                                         as the authors' code uses)
                  --predictor-rope R     v1: auto (default: Llama-3 scaled, factor 32, when the checkpoint has norm2 or
                                         norm_importance, as every version after the first; unscaled otherwise),
                                         llama3 or plain
                  --ignore-norm2         v1: do not apply norm2 (code of February 2025 defined it without using it)
                  --mean-key-heads       v2: accept a key_cache_proj per query head by averaging each KV group's, as
                                         the authors' inference loader does (the logits then differ from per-head ones)
                  --sinks S, --window W  selection settings to print with the run command (published: 8 and 128)
                  --type F32|F16         tensor type of the written file (default F32)
                """;
    }

    @Override public int run(Args args) {
        Path checkpointPath = args.existingPositional(0, "CHECKPOINT");
        Path modelPath = args.existingFile("model");
        Path outPath = args.outputFile("out");
        String arch = args.string("arch", null);
        int dPrime = args.integer("d-prime", ButlerImport.PUBLISHED_D_PRIME, 2, 4096);
        int hidden = args.integer("importance-hidden", ButlerImport.PUBLISHED_IMPORTANCE_HIDDEN, 1, 1 << 20);
        int spacing = args.integer("spacing", ButlerImport.PUBLISHED_SPACING, 1, 4096);
        int heads = args.integer("heads", 0, 1, 4096);
        String rope = args.string("predictor-rope", null);
        boolean ignoreNorm2 = args.flag("ignore-norm2"), meanKeyHeads = args.flag("mean-key-heads");
        int sinks = args.integer("sinks", PUBLISHED_SINKS, 0, 1 << 20), window = args.integer("window", PUBLISHED_WINDOW, 0, 1 << 20);
        String typeName = args.string("type", "F32");
        args.finish(1);
        if (arch != null && !arch.equals("v1") && !arch.equals("v2")) throw new UserError("import-butler: option --arch must be v1 or v2, got '" + arch + "'");
        GGMLType type = PredictorFileWriter.TENSOR_TYPES.stream().filter(t -> t.name().equalsIgnoreCase(typeName)).findFirst()
                .orElseThrow(() -> new UserError("import-butler: option --type must be one of " + PredictorFileWriter.TENSOR_TYPES + ", got '" + typeName + "'"));

        Checkpoint checkpoint = Checkpoint.read(checkpointPath);
        ModelConfig config;
        ModelFingerprint fingerprint;
        try (Model model = Model.load(modelPath, LoadOptions.defaults())) {
            config = model.config();
            fingerprint = ModelFingerprint.of(config, model.gguf());
        }
        ButlerImport.Result r = ButlerImport.map(checkpoint, config, fingerprint,
                new ButlerImport.Options(arch, dPrime, hidden, spacing, heads, rope, ignoreNorm2, meanKeyHeads));
        String sha = sha256(checkpointPath);
        PredictorFormat.Imported imported = new PredictorFormat.Imported(checkpointPath.getFileName().toString(), sha, r.layout());
        String origin = "imported from " + checkpointPath.getFileName() + " (" + checkpoint.format() + ", sha256 " + sha + "), " + r.layout();
        PredictorFileWriter.buildImported(r, fingerprint, origin, imported, type).write(outPath);

        System.out.printf(Locale.ROOT, "read %s: %s, %d state dict%s%n", checkpointPath, checkpoint.format(), checkpoint.stateDicts().size(),
                checkpoint.stateDicts().size() == 1 ? "" : "s");
        switch (r) {
            case ButlerImport.V1 v -> {
                PredictorConfig c = v.config();
                System.out.printf(Locale.ROOT, "v1 predictor: d' %d%s, importance hidden %d%s, r %d (projection %d), %d attention heads%s, "
                                + "norm2 %s, norm_importance %s, RoPE base %s %s, %,d parameters%n",
                        c.dPrime(), given(dPrime, ButlerImport.PUBLISHED_D_PRIME), c.importanceHidden(), given(hidden, ButlerImport.PUBLISHED_IMPORTANCE_HIDDEN), c.reduction(), c.projDim(), c.attnHeads(),
                        heads > 0 ? " (--heads)" : " (the model's query heads)", c.residualNorm() ? "applied" : "absent or ignored",
                        c.importanceNorm() ? "applied" : "absent", trim(c.ropeTheta()),
                        c.ropeScaling() == null ? "unscaled" : "scaled " + c.ropeScaling(), c.parameterCount());
            }
            case ButlerImport.V2 v -> {
                RevisedPredictorConfig c = v.config();
                System.out.printf(Locale.ROOT, "v2 predictor: d' %d%s, importance hidden %d%s, %d producers every %d layers%s, consumer offset 1, "
                                + "post-RoPE keys, %,d parameters%n", c.dPrime(), given(dPrime, ButlerImport.PUBLISHED_D_PRIME), c.importanceHidden(),
                        given(hidden, ButlerImport.PUBLISHED_IMPORTANCE_HIDDEN), c.producers(), c.producerSpacing(),
                        given(spacing, ButlerImport.PUBLISHED_SPACING), c.parameterCount());
            }
        }
        for (String note : r.notes()) System.out.println("  " + note);
        System.out.printf(Locale.ROOT, "wrote %s for '%s' (%s)%n", outPath, fingerprint.modelName(), type);
        System.out.printf(Locale.ROOT, "run it with: ./tokenbutler run --model %s --attention tokenbutler --attention-opt predictor=%s "
                + "--attention-opt sinks=%d --attention-opt window=%d --attention-opt sparsity=0.5   (sinks %d and window %d: %s)%n",
                modelPath, outPath, sinks, window, sinks, window,
                sinks == PUBLISHED_SINKS && window == PUBLISHED_WINDOW ? "the published defaults" : "from --sinks/--window");
        return 0;
    }

    private static String given(int value, int published) { return value == published ? " (published default, checked)" : " (option, checked)"; }

    private static String trim(float v) { return v == Math.rint(v) ? Long.toString((long) v) : Float.toString(v); }

    static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) sha.update(buf, 0, n);
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new UserError("import-butler: cannot read " + file + ": " + e.getMessage());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
