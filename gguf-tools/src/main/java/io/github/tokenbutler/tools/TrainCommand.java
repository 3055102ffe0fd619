package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.butlerfile.PredictorFileWriter;
import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.train.AdamW;
import io.github.tokenbutler.train.ParameterLayout;
import io.github.tokenbutler.train.TeacherForcing;
import io.github.tokenbutler.train.TeacherSample;
import io.github.tokenbutler.train.Trainer;
import io.github.tokenbutler.train.TrainingCheckpoint;
import io.github.tokenbutler.train.TrainingData;
import io.github.tokenbutler.train.TrainingLoss;
import io.github.tokenbutler.train.TrainingOptions;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code ./tokenbutler train}: trains a TokenButler predictor for a model on a text file (docs/TRAINING.md). */
public final class TrainCommand implements Command {
    /** Defaults of the options that have no model-dependent default. */
    static final int DEFAULT_STEPS = 1000, DEFAULT_BATCH = 8, DEFAULT_VALID_SEQUENCES = 16;
    static final double DEFAULT_WEIGHT_DECAY = 0.01, DEFAULT_CLIP = 1.0;

    private final PrintStream out, err;
    private final boolean installShutdownHook;

    public TrainCommand() { this(System.out, System.err, true); }

    /** For tests: where the summary and the progress go; no shutdown hook. */
    public TrainCommand(PrintStream out, PrintStream err, boolean installShutdownHook) {
        this.out = out;
        this.err = err;
        this.installShutdownHook = installShutdownHook;
    }

    @Override public String name() { return "train"; }

    @Override public String summary() { return "train a TokenButler predictor for a model on a text file"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler train --model M.gguf --text corpus.txt --out M.butler.gguf [options]

                Runs the model densely over the text (cut into BOS-started sequences as eval does) and trains the
                predictor to reproduce its attention (logits q·k/sqrt(head size)) in layers 1..L-1, every head, over
                the causal (query, key) pairs (--loss), with AdamW, warm-up + cosine decay. See docs/TRAINING.md.

                  --model M.gguf          the base model
                  --text FILE             training text (UTF-8; stories separated by <|endoftext|> lines)
                  --valid FILE            validation text: loss and hit-rate every --valid-every steps and at the end
                  --out P.gguf            the predictor file (written atomically at the end)
                  --type T                its tensor type, F32 (default) or F16 (half the bytes; a v2 predictor's
                                          decode step then reads its projections as halves)
                  --seq-len N             tokens per sequence, BOS included (default: min(512, context))
                  --context N             context to load the model with (default: the context the file declares;
                                          stories260K declares 128 but was trained at 512)
                  --steps N               optimizer steps (default %d)
                  --batch N               sequences per step (default %d)
                  --lr X                  peak learning rate (default 0.01 * sqrt(64 / E), at most 0.01: 0.01 for
                                          stories260K, 0.0018 for a 2048-wide model)
                  --warmup N              linear warm-up steps (default: steps/10, at most 100)
                  --weight-decay X        AdamW weight decay of linear weights (default %s)
                  --clip X                global gradient-norm clipping, 0 for none (default %s)
                  --seed S                initial weights and data order (default 0)
                  --loss NAME             kl (default): KL divergence between the true and predicted attention
                                          distributions of each query row (the paper's v2 distillation);
                                          mse: squared logit error over all causal pairs (the paper's v1)
                  --arch A                v1 (default): the layer-0 predictor; v2: the revised one (keys projected
                                          from the model's own K cache, queries from a producer every --spacing layers)
                  --spacing G             v2: layers per producer (default 4, or the layer count if smaller)
                  --post-rope-keys        v2: keys projected from the model's keys after RoPE, nothing rotated (the
                                          design as the paper describes it); default: keys before RoPE and both
                                          importance vectors rotated (see docs/TRAINING.md for what each gave)
                  --d-prime N             importance vector length d' (default 16, or the model's head size if smaller)
                  --importance-hidden N   hidden length I of the importance MLPs (default 512, or E if smaller)
                  --reduction N           v1: projection E -> E/r (default 8, smaller when E/8 has no even head split;
                                          tiny models gain from a smaller r, e.g. 1 for babyllama-tok105)
                  --threads N             worker threads (default: all processors); results do not depend on it
                  --checkpoint FILE       checkpoint file (weights, Adam moments, step, data position, model)
                  --checkpoint-every N    steps between checkpoints (default 100 with --checkpoint)
                  --resume FILE           continue a checkpoint exactly; hyper-parameters come from it
                  --valid-every N         steps between validations (default steps/10)
                  --valid-sequences N     validation sequences, the first N of --valid (default %d)
                  --max-sequences N       use only the first N sequences of --text (default: all)
                """.formatted(DEFAULT_STEPS, DEFAULT_BATCH, DEFAULT_WEIGHT_DECAY, DEFAULT_CLIP, DEFAULT_VALID_SEQUENCES);
    }

    @Override
    public int run(Args a) throws Exception {
        Path modelPath = a.existingFile("model");
        Path text = a.existingFile("text");
        Path valid = a.has("valid") ? a.existingFile("valid") : null;
        Path outPath = Path.of(a.requireString("out"));
        int seqLenOpt = a.integer("seq-len", 0, 2, 1 << 20);
        int contextOpt = a.integer("context", 0, 2, 1 << 20);
        boolean given = a.has("steps") || a.has("batch") || a.has("lr") || a.has("warmup") || a.has("weight-decay")
                || a.has("clip") || a.has("seed") || a.has("loss") || a.has("seq-len") || a.has("d-prime") || a.has("importance-hidden") || a.has("reduction")
                || a.has("arch") || a.has("spacing") || a.has("post-rope-keys");
        String arch = a.string("arch", "v1");
        int spacingOpt = a.integer("spacing", 0, 1, 1 << 16);
        boolean rotary = !a.flag("post-rope-keys");
        int steps = a.integer("steps", DEFAULT_STEPS, 1, Integer.MAX_VALUE);
        int batch = a.integer("batch", DEFAULT_BATCH, 1, 1 << 16);
        double lr = a.number("lr", 0, Double.MIN_VALUE, 10); // 0: the model-scaled default, set once the model is known
        int warmup = a.integer("warmup", Math.min(100, steps / 10), 0, Integer.MAX_VALUE);
        double weightDecay = a.number("weight-decay", DEFAULT_WEIGHT_DECAY, 0, 10);
        double clip = a.number("clip", DEFAULT_CLIP, 0, 1e9);
        long seed = a.longValue("seed", 0);
        TrainingLoss loss = a.has("loss") ? TrainingLoss.parse("--loss", a.string("loss")) : TrainingLoss.DEFAULT;
        int dPrime = a.integer("d-prime", 0, 2, 1024);
        int hidden = a.integer("importance-hidden", 0, 1, 1 << 16);
        int reduction = a.integer("reduction", 0, 1, 1 << 16);
        int threads = a.integer("threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        Path checkpoint = a.has("checkpoint") ? Path.of(a.string("checkpoint")) : null;
        int checkpointEvery = a.integer("checkpoint-every", 100, 1, Integer.MAX_VALUE);
        Path resume = a.has("resume") ? a.existingFile("resume") : null;
        int validEvery = a.integer("valid-every", Math.max(1, steps / 10), 1, Integer.MAX_VALUE);
        int validSequences = a.integer("valid-sequences", DEFAULT_VALID_SEQUENCES, 1, Integer.MAX_VALUE);
        int maxSequences = a.integer("max-sequences", 0, 1, Integer.MAX_VALUE);
        GGMLType tensorType = PredictorFileWriter.tensorType("train", a.string("type", "F32"));
        a.finish(0);
        if (!arch.equals("v1") && !arch.equals("v2")) throw new UserError("train: --arch must be v1 or v2, got '" + arch + "'");
        if (arch.equals("v1") && dPrime % 2 != 0) throw new UserError("train: --d-prime must be even (RoPE rotates pairs), got " + dPrime);
        if (arch.equals("v1") && (a.has("spacing") || !rotary)) throw new UserError("train: --spacing and --post-rope-keys are for --arch v2 only");
        if (arch.equals("v2") && a.has("reduction")) throw new UserError("train: --reduction is for --arch v1 only (v2 has no input projection)");
        checkWritable("--out", outPath);
        if (checkpoint != null) checkWritable("--checkpoint", checkpoint);
        if (checkpoint != null && checkpoint.toAbsolutePath().equals(outPath.toAbsolutePath())) {
            throw new UserError("train: --checkpoint and --out must be different files");
        }
        TrainingCheckpoint resumed = resume == null ? null : TrainingCheckpoint.read(resume);
        if (resumed != null && given) {
            throw new UserError("train: with --resume the hyper-parameters come from the checkpoint (" + resumed.options()
                    + "); leave out --steps, --batch, --lr, --warmup, --weight-decay, --clip, --seed, --loss, --seq-len, --d-prime, --importance-hidden, --reduction, --arch, --spacing, --post-rope-keys");
        }

        int declared = declaredContext(modelPath);
        int context = contextOpt > 0 ? contextOpt : declared > 0 ? declared : 512;
        int seqLen = resumed != null ? resumed.options().seqLen() : seqLenOpt > 0 ? seqLenOpt : Math.min(512, context);
        if (seqLen > context) {
            throw new UserError("train: --seq-len " + seqLen + " is larger than the model's context: " + modelPath.getFileName()
                    + (contextOpt > 0 ? " is loaded with --context " + contextOpt : " declares " + declared + " tokens (llama.context_length)")
                    + "; use --seq-len " + context + " or less, or --context " + seqLen + " if the model was trained with a longer context"
                    + " (llama.cpp's convert-llama2c writes 128 whatever the training length was)");
        }
        if (lr == 0) lr = defaultLearningRate(modelPath);
        TrainingOptions options = resumed != null ? resumed.options()
                : new TrainingOptions(seqLen, steps, batch, lr, Math.min(warmup, Math.max(0, steps - 1)), weightDecay, clip, seed, loss);

        // f32 KV: the teacher's keys as the model computes them (the committed predictors were trained so).
        try (Model model = Model.load(modelPath, new LoadOptions(context, KvType.F32, KvType.F32))) {
            if (model.config().contextLength() < seqLen) {
                throw new UserError("train: --seq-len " + seqLen + " is larger than the context " + model.config().contextLength() + " the model was loaded with");
            }
            ModelFingerprint fingerprint = ModelFingerprint.of(model.config(), model.gguf());
            PredictorConfig config = null;
            RevisedPredictorConfig revised = null;
            if (resumed != null) {
                if (!resumed.fingerprint().equals(fingerprint.vocabularyHash())) {
                    throw new UserError("train: --resume " + resume + " is a checkpoint for model '" + resumed.modelName() + "' ("
                            + resumed.modelShape() + "), not for " + modelPath.getFileName() + " (" + fingerprint.modelName() + ", "
                            + PredictorConfig.shape(model.config()) + ")");
                }
                config = resumed.config();
                revised = resumed.revised();
            } else if (arch.equals("v2")) {
                revised = RevisedPredictorConfig.forModel(model.config(), fingerprint.vocabularyHash(), dPrime, hidden, spacingOpt, rotary);
            } else {
                config = PredictorConfig.forModel(model.config(), fingerprint.vocabularyHash(), dPrime, reduction, hidden, 0);
            }
            long modelParams = 0;
            for (TensorInfo t : model.gguf().tensors().values()) modelParams += t.elements();
            long predictorParams = config != null ? config.parameterCount() : revised.parameterCount();
            double ratio = (double) predictorParams / modelParams;

            TrainingData data = TrainingData.read(text, "--text", model.tokenizer(), seqLen, maxSequences, options.seed());
            TeacherForcing teacher = new TeacherForcing(model, revised != null ? revised.producerSpacing() : 0, revised != null && revised.rotary());
            List<TeacherSample> validSamples = new ArrayList<>();
            if (valid != null) {
                TrainingData v = TrainingData.read(valid, "--valid", model.tokenizer(), seqLen, validSequences, 0);
                for (int i = 0; i < v.count(); i++) validSamples.add(teacher.run(v.sequence(i)));
            }
            if (config != null) {
                out.printf(Locale.ROOT, "train: predictor for '%s': d' %d, r %d, importance hidden %d, %d attention heads: %,d parameters "
                                + "(%.2f%% of the model's %,d)%n", fingerprint.modelName(), config.dPrime(), config.reduction(),
                        config.importanceHidden(), config.attnHeads(), config.parameterCount(), 100 * ratio, modelParams);
            } else {
                out.printf(Locale.ROOT, "train: v2 predictor for '%s': d' %d, importance hidden %d, %d producers every %d layers, %s keys: %,d parameters "
                                + "(%.2f%% of the model's %,d)%n", fingerprint.modelName(), revised.dPrime(), revised.importanceHidden(),
                        revised.producers(), revised.producerSpacing(), revised.rotary() ? "rotary" : "post-RoPE", revised.parameterCount(), 100 * ratio, modelParams);
            }
            out.printf(Locale.ROOT, "train: %d training sequences of %d tokens from %s%s; %d steps x %d sequences, lr %s, loss %s, %d threads%s%n",
                    data.count(), seqLen, text.getFileName(), valid != null ? ", " + validSamples.size() + " validation sequences from " + valid.getFileName() : "",
                    options.steps(), options.batch(), options.lr(), options.loss().id, threads, resumed != null ? ", resuming at step " + resumed.step() : "");
            out.flush();

            try (Trainer trainer = config != null ? new Trainer(config, options, threads) : new Trainer(revised, options, threads)) {
                ParameterLayout layout = trainer.layout();
                Trainer.State state = resumed != null
                        ? new Trainer.State(resumed.params(), new AdamW(layout, options.weightDecay(), resumed.m(), resumed.v()), resumed.step())
                        : new Trainer.State(config != null ? layout.flatten(PredictorWeights.random(config, options.seed()))
                                : layout.flatten(RevisedPredictorWeights.random(revised, options.seed()).byName()), new AdamW(layout, options.weightDecay()), 0);
                String modelName = fingerprint.modelName();
                Trainer.Measure initialValid = validSamples.isEmpty() ? null : trainer.evaluate(state.params, validSamples);
                if (initialValid != null) out.println("train: validation at step " + state.step + ": " + initialValid);

                // About a hundred plain lines per run in a log; the terminal gets the bar.
                ProgressBar progress = ProgressBar.on(err, "train", options.steps(), ProgressBar.Unit.of("step", "steps"), 100)
                        .startingAt(state.step);
                Object checkpointLock = new Object();
                CountDownLatch finished = new CountDownLatch(1);
                Thread hook = new Thread(() -> {
                    trainer.requestStop();
                    try {
                        finished.await(120, TimeUnit.SECONDS); // the loop finishes its step and writes a checkpoint
                    } catch (InterruptedException ignored) { /* exiting anyway */ }
                }, "train-shutdown");
                if (installShutdownHook) Runtime.getRuntime().addShutdownHook(hook);
                Trainer.Measure[] lastTrain = new Trainer.Measure[1];
                Trainer.Measure[] lastValid = {initialValid};
                double[] ema = {Double.NaN, Double.NaN};
                try {
                    trainer.run(state, data, teacher::run, (s, m, rate, norm) -> {
                        lastTrain[0] = m;
                        ema[0] = Double.isNaN(ema[0]) ? m.loss() : 0.9 * ema[0] + 0.1 * m.loss();
                        ema[1] = Double.isNaN(ema[1]) ? m.hitRate() : 0.9 * ema[1] + 0.1 * m.hitRate();
                        progress.update(s.step, String.format(Locale.ROOT, "loss %.4f  hit-rate %.3f  lr %.2e", ema[0], ema[1], rate));
                        if (!validSamples.isEmpty() && (s.step % validEvery == 0 || s.step == options.steps())) {
                            lastValid[0] = trainer.evaluate(s.params, validSamples);
                            progress.message(String.format(Locale.ROOT, "train: step %d: train loss %.4f hit-rate %.3f (smoothed), validation %s",
                                    s.step, ema[0], ema[1], lastValid[0]));
                        }
                        if (checkpoint != null && (s.step % checkpointEvery == 0 || trainer.stopRequested())) {
                            synchronized (checkpointLock) { trainer.writeCheckpoint(s, modelName, checkpoint); }
                        }
                    });
                    progress.finish();
                    if (trainer.stopRequested() && state.step < options.steps()) {
                        err.println("train: stopped at step " + state.step + " of " + options.steps()
                                + (checkpoint != null ? "; checkpoint " + checkpoint + " holds it, continue with --resume " + checkpoint : "; no --checkpoint was given"));
                        return 130;
                    }
                    if (checkpoint != null) trainer.writeCheckpoint(state, modelName, checkpoint);
                    String origin = String.format(Locale.ROOT, "trained with ./tokenbutler train on %s: %d steps x %d sequences of %d tokens, lr %s, seed %d",
                            text.getFileName(), options.steps(), options.batch(), seqLen, options.lr(), options.seed());
                    GgufWriter w = config != null
                            ? PredictorFileWriter.build(config, layout.toWeights(state.params), fingerprint, origin, tensorType)
                            : PredictorFileWriter.build(revised, new RevisedPredictorWeights(revised, layout.toArrays(state.params)), fingerprint, origin, tensorType);
                    w.putU64("tokenbutler.training.parameter_count", predictorParams);
                    w.putU64("tokenbutler.training.model_parameter_count", modelParams);
                    w.putF32("tokenbutler.training.parameter_ratio", (float) ratio);
                    w.putU32("tokenbutler.training.steps", options.steps());
                    w.putU32("tokenbutler.training.batch", options.batch());
                    w.putU32("tokenbutler.training.sequence_length", seqLen);
                    w.putString("tokenbutler.training.loss", options.loss().id);
                    // the last step's own numbers (not the smoothed ones, which depend on where a resumed run started)
                    if (lastTrain[0] != null) {
                        w.putF32("tokenbutler.training.train_loss", (float) lastTrain[0].loss());
                        w.putF32("tokenbutler.training.train_hit_rate", (float) lastTrain[0].hitRate());
                    }
                    if (lastValid[0] != null) {
                        w.putF32("tokenbutler.training.valid_loss", (float) lastValid[0].loss());
                        w.putF32("tokenbutler.training.valid_hit_rate", (float) lastValid[0].hitRate());
                    }
                    w.write(outPath);
                    out.printf(Locale.ROOT, "train: wrote %s after %d steps in %s: train loss %.4f hit-rate %.3f (smoothed)%s%n", outPath,
                            state.step, String.format(Locale.ROOT, "%.1f s", progress.elapsedSeconds()), ema[0], ema[1],
                            lastValid[0] != null ? "; validation " + lastValid[0] + (initialValid != null ? " (untrained: " + initialValid + ")" : "") : "");
                    return 0;
                } finally {
                    progress.close();
                    finished.countDown();
                    if (installShutdownHook) {
                        try { Runtime.getRuntime().removeShutdownHook(hook); } catch (IllegalStateException ignored) { /* shutting down */ }
                    }
                }
            }
        }
    }

    private static void checkWritable(String option, Path target) {
        AtomicFiles.checkWritable("train", option, target);
        Path parent = target.toAbsolutePath().getParent();
        if (!Files.isWritable(parent)) throw new UserError("train: " + option + " " + target + ": folder " + parent + " is not writable");
        if (Files.exists(target) && !Files.isWritable(target)) throw new UserError("train: " + option + " " + target + " exists and is not writable");
    }

    /**
     * 0.01 for models up to 64 wide, shrinking as 1/sqrt(E) above: wider predictors have wider importance
     * layers whose outputs move more per step. Tuned on stories260K (E 64); an assumption beyond it.
     */
    static double defaultLearningRate(Path model) {
        try (GGUF g = GGUF.read(model)) {
            Object arch = g.metadata().get("general.architecture");
            long e = g.getLong((arch instanceof String s ? s : "llama") + ".embedding_length", 64);
            return 0.01 * Math.min(1.0, Math.sqrt(64.0 / Math.max(1, e)));
        }
    }

    /** llama.context_length (or ARCH.context_length) from the metadata, -1 when absent. */
    static int declaredContext(Path path) {
        try (GGUF g = GGUF.read(path)) {
            Object arch = g.metadata().get("general.architecture");
            long v = g.getLong((arch instanceof String s ? s : "llama") + ".context_length", -1);
            return v > 0 && v <= Integer.MAX_VALUE ? (int) v : -1;
        }
    }
}
