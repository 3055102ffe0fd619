package io.github.tokenbutler.tools;

import io.github.tokenbutler.butlerfile.PredictorFileWriter;
import io.github.tokenbutler.butlerfile.RandomPredictor;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.Locale;

/** `synth-predictor`: a deterministic random-weight TokenButler predictor for a model. */
public final class SynthPredictorCommand implements Command {
    @Override public String name() { return "synth-predictor"; }

    @Override public String summary() { return "deterministic random-weight TokenButler predictor for a model"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler synth-predictor --model M.gguf --out P.gguf [--arch v1|v2] [--seed S] [--d-prime D]
                                                     [--reduction R] [--importance-hidden I] [--heads N] [--spacing G]
                                                     [--type F32|F16]
                  Writes an untrained predictor (the reference code's random initialization) for the model, with
                  the model's fingerprint so that it loads only with that model (in any quantization).
                  --arch A               v1 (default: the layer-0 predictor) or v2 (the revised one: importance keys
                                         projected from the model's K cache, queries from a producer every G layers)
                  --seed S               64-bit seed (default 0); the same arguments give a byte-identical file
                  --d-prime D            importance vector length d' (default 16, or the model's head size if smaller)
                  --reduction R          v1: projection E -> E/R (default 8, smaller when E/8 has no even head split)
                  --importance-hidden I  hidden length of the importance MLPs (default 512, or E if smaller)
                  --heads N              v1: heads of the predictor's attention block (default: the model's query heads)
                  --spacing G            v2: layers per producer (default 4, or the layer count if smaller)
                  --post-rope-keys       v2: project the model's keys after RoPE and rotate nothing (the design as
                                         the paper describes it); default: keys before RoPE, both importance
                                         vectors rotated at their positions
                  --type T               tensor type, F32 (default) or F16
                """;
    }

    @Override public int run(Args args) {
        Path modelPath = args.existingFile("model");
        Path outPath = args.outputFile("out");
        String arch = args.string("arch", "v1");
        long seed = args.longValue("seed", 0);
        int dPrime = args.integer("d-prime", 0, 2, 1024);
        int reduction = args.integer("reduction", 0, 1, 1 << 16);
        int hidden = args.integer("importance-hidden", 0, 1, 1 << 16);
        int heads = args.integer("heads", 0, 1, 1024);
        int spacing = args.integer("spacing", 0, 1, 1 << 16);
        boolean postRopeKeys = args.flag("post-rope-keys");
        String typeName = args.string("type", "F32");
        args.finish(0);
        if (!arch.equals("v1") && !arch.equals("v2")) throw new UserError("synth-predictor: option --arch must be v1 or v2, got '" + arch + "'");
        if (arch.equals("v1") && (spacing != 0 || postRopeKeys)) throw new UserError("synth-predictor: options --spacing and --post-rope-keys are for --arch v2 only");
        if (arch.equals("v2") && (reduction != 0 || heads != 0)) {
            throw new UserError("synth-predictor: options --reduction and --heads are for --arch v1 only (v2 has no attention block)");
        }
        if (dPrime % 2 != 0) throw new UserError("synth-predictor: option --d-prime must be even (RoPE rotates pairs), got " + dPrime);
        GGMLType type = PredictorFileWriter.tensorType("synth-predictor", typeName);
        try (Model model = Model.load(modelPath, LoadOptions.defaults())) {
            long modelParams = 0;
            for (TensorInfo t : model.gguf().tensors().values()) modelParams += t.elements();
            if (arch.equals("v2")) {
                RandomPredictor.RevisedResult r = RandomPredictor.writeRevised(model.config(), model.gguf(), outPath, seed, dPrime, hidden, spacing, !postRopeKeys, type);
                RevisedPredictorConfig c = r.config();
                System.out.printf(Locale.ROOT, "wrote %s: random TokenButler v2 predictor for '%s' (d' %d, importance hidden %d, %d producers every %d layers, %s keys), "
                                + "%,d parameters (%.2f%% of the model's %,d), %s, seed %d%n",
                        outPath, r.fingerprint().modelName(), c.dPrime(), c.importanceHidden(),
                        c.producers(), c.producerSpacing(), c.rotary() ? "rotary" : "post-RoPE", c.parameterCount(), 100.0 * c.parameterCount() / modelParams, modelParams, type, seed);
                return 0;
            }
            RandomPredictor.Result r = RandomPredictor.write(model.config(), model.gguf(), outPath, seed, dPrime, reduction, hidden, heads, type);
            PredictorConfig c = r.config();
            System.out.printf(Locale.ROOT, "wrote %s: random TokenButler predictor for '%s' (d' %d, r %d, importance hidden %d, %d attention heads), "
                            + "%,d parameters (%.2f%% of the model's %,d), %s, seed %d%n",
                    outPath, r.fingerprint().modelName(), c.dPrime(), c.reduction(), c.importanceHidden(), c.attnHeads(), c.parameterCount(),
                    100.0 * c.parameterCount() / modelParams, modelParams, type, seed);
        }
        return 0;
    }
}
