package io.github.tokenbutler.tools;

import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.plot.CoverageImage;
import io.github.tokenbutler.eval.PerplexityEvaluation;
import io.github.tokenbutler.eval.Policies;
import io.github.tokenbutler.eval.Visualization;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code ./tokenbutler eval}: perplexity under each selection policy and sparsity (docs/EVALUATION.md).
 * Options are all checked before the model is loaded; results go to stdout, progress to stderr.
 */
public final class EvalCommand implements Command, Main.FlagOptions {
    static final List<String> DEFAULT_SPARSITIES = List.of("0.25", "0.5", "0.75");

    private final PrintStream out, err;

    public EvalCommand() { this(System.out, System.err); }

    /** For tests: where the table and the progress go. */
    public EvalCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    @Override public String name() { return "eval"; }

    @Override public java.util.Set<String> flags() { return java.util.Set.of("force-ctx"); }

    @Override public String summary() { return "perplexity under each selection policy (dense, oracle, tokenbutler, h2o, streaming, quest, random)"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler eval --model M.gguf --text FILE --context N [options]

                Perplexity with teacher forcing, every position a decode step under the policy. The text's stories
                (separated by <|endoftext|> lines) are tokenized with BOS between stories and cut into chunks of N
                tokens: BOS + N-1 text tokens; predictions of positions 1..N-1 are scored. Protocol: docs/EVALUATION.md.

                  --model M.gguf          the model (llama architecture GGUF)
                  --text FILE             UTF-8 text, e.g. ../shared/data/tinystories/valid.txt
                  --context N             tokens per chunk, BOS included (at most the context the model file declares;
                                          also -c, --ctx, --ctx-size, as in every command)
                  --force-ctx             allow --context beyond the declared context, for files that under-declare it
                                          (llama.cpp's convert-llama2c writes 128; stories260K was trained at 512)
                  --policies LIST         comma-separated, default: all of %s
                                          (tokenbutler only with --predictor); dense always runs once as the reference
                  --sparsity LIST         target sparsities, 0 < s < 1, default 0.25,0.5,0.75
                  --predictor P.gguf      TokenButler predictor for this model (needed by tokenbutler)
                  --max-chunks K          score only the first K chunks (fast checks)
                  --cache-type-k T        KV cache type of the keys: f32 (default here, as the quality tables were
                                          measured), f16 (the runtime's default) or q8_0; also -ctk
                  --cache-type-v T        likewise for the values; also -ctv
                  --attention-opt K=V     extra option for every sparse policy, repeatable (e.g. sinks=4, window=16, gqa=kv)
                  --out results.csv       one row per (policy, sparsity)
                  --plot results.png      perplexity vs sparsity, one line per policy, dense as a dashed line
                  --viz FILE.png          which past tokens one head attended, per query position, for one chunk:
                    --viz-policy P        default tokenbutler with --predictor, else oracle
                    --viz-sparsity S      default 0.5
                    --viz-layer L         default 1 (layer 0 is always dense)
                    --viz-head H          query head, default 0
                    --viz-chunk I         0-based chunk, default 0
                """.formatted(String.join(",", Policies.KNOWN));
    }

    @Override
    public int run(Args a) {
        Path model = a.existingFile("model");
        Path text = a.existingFile("text");
        int ctx = requiredContext(a);
        boolean forceCtx = a.flag("force-ctx");
        Path predictor = predictor(a);
        List<String> policies = Policies.validate(name(), a.list("policies", Policies.defaults(predictor != null)), predictor != null);
        List<Double> sparsities = Policies.sparsities(name(), "sparsity", a.list("sparsity", DEFAULT_SPARSITIES));
        int maxChunks = a.integer("max-chunks", 0, 1, Integer.MAX_VALUE);
        Map<String, String> extra = Policies.extraOptions(name(), a.all("attention-opt"));
        Path csv = output(a, "out");
        Path plot = output(a, "plot");
        Visualization viz = visualization(a, predictor, "viz-chunk");
        KvType keyType = a.kvType("cache-type-k", KvType.F32), valueType = a.kvType("cache-type-v", KvType.F32);
        a.finish(0);

        var settings = new PerplexityEvaluation.Settings(model, text, ctx, policies, sparsities, predictor, extra, maxChunks, viz, forceCtx,
                keyType, valueType);
        PerplexityEvaluation.Result result = PerplexityEvaluation.run(settings, err);
        var report = result.report();

        out.printf(Locale.ROOT, "Perplexity of %s on %s: %d chunks of %d tokens (BOS + %d), %d predictions scored per policy%n%n",
                report.model(), text.getFileName(), report.chunks(), ctx, ctx - 1, report.dense().tokens());
        out.print(report.table());
        if (csv != null) {
            AtomicFiles.writeText(csv, report.csv());
            err.println("eval: wrote " + csv);
        }
        if (plot != null) {
            AtomicFiles.writePng(plot, report.plot());
            err.println("eval: wrote " + plot);
        }
        if (viz != null) {
            String title = String.format(Locale.ROOT, "%s @ %s%% sparsity - layer %d head %d - chunk %d of %s - %s",
                    viz.policy(), Policies.formatPercent(viz.sparsity()), viz.layer(), viz.head(), viz.index(),
                    text.getFileName(), report.model());
            AtomicFiles.writePng(viz.file(), CoverageImage.render(result.coverage(), ctx, title, new int[0], new int[0]));
            err.println("eval: wrote " + viz.file());
        }
        return 0;
    }

    private int requiredContext(Args a) {
        if (!a.has("context")) {
            throw new UserError(name() + ": option --context is required: tokens per chunk, BOS included (e.g. --context 512), at most the model's context");
        }
        return a.integer("context", 0, 2, 1 << 24);
    }

    /** --predictor: optional, but when given the file must exist. */
    static Path predictor(Args a) {
        String p = a.string("predictor");
        if (p == null) return null;
        Path path = Path.of(p);
        return io.github.tokenbutler.runtime.Llama3.requireReadableFile(path, a.command() + ": --predictor file");
    }

    /** An output file option, checked writable now rather than after a long run. */
    static Path output(Args a, String option) {
        String v = a.string(option);
        if (v == null) return null;
        if (v.isBlank()) throw new UserError(a.command() + ": option --" + option + " needs a file name");
        Path p = Path.of(v);
        AtomicFiles.checkWritable(a.command(), "--" + option, p);
        return p;
    }

    /** --viz and its --viz-* options; the index option is --viz-chunk (eval) or --viz-case (coref). */
    static Visualization visualization(Args a, Path predictor, String indexOption) {
        List<String> vizOptions = List.of("viz-policy", "viz-sparsity", "viz-layer", "viz-head", indexOption);
        Path file = output(a, "viz");
        if (file == null) {
            for (String o : vizOptions) {
                if (a.has(o)) throw new UserError(a.command() + ": option --" + o + " only applies with --viz FILE.png");
            }
            return null;
        }
        String policy = a.string("viz-policy", predictor != null ? Policies.TOKENBUTLER : "oracle").toLowerCase(Locale.ROOT);
        if (!Policies.KNOWN.contains(policy)) {
            throw new UserError(a.command() + ": unknown policy '" + policy + "' in --viz-policy; known policies: "
                    + String.join(", ", Policies.KNOWN));
        }
        if (policy.equals(Policies.TOKENBUTLER) && predictor == null) {
            throw new UserError(a.command() + ": --viz-policy tokenbutler needs --predictor PATH, got no --predictor");
        }
        double sparsity = Policies.sparsities(a.command(), "viz-sparsity", List.of(a.string("viz-sparsity", "0.5"))).getFirst();
        int layer = a.integer("viz-layer", 1, 0, 1 << 16);
        int head = a.integer("viz-head", 0, 0, 1 << 16);
        int index = a.integer(indexOption, 0, 0, Integer.MAX_VALUE);
        try {
            return new Visualization(file, policy, sparsity, layer, head, index);
        } catch (UserError e) {
            throw new UserError(a.command() + ": " + e.getMessage(), e);
        }
    }
}
