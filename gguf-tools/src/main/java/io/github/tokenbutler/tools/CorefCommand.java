package io.github.tokenbutler.tools;

import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.eval.CorefCase;
import io.github.tokenbutler.eval.CorefEvaluation;
import io.github.tokenbutler.plot.CoverageImage;
import io.github.tokenbutler.eval.Policies;
import io.github.tokenbutler.eval.Visualization;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code ./tokenbutler coref}: the synthetic co-referential retrieval task under each policy
 * (docs/EVALUATION.md). Options are all checked before the model is loaded.
 */
public final class CorefCommand implements Command, Main.FlagOptions {
    static final int DEFAULT_CTX = 256, DEFAULT_CASES = 50;
    static final long DEFAULT_SEED = 42;
    /** The default distractor corpus, relative to the shared data folder beside the checkout. */
    static final String DEFAULT_DISTRACTORS = "data/tinystories/valid.txt";

    private final PrintStream out, err;

    public CorefCommand() { this(System.out, System.err); }

    public CorefCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    @Override public String name() { return "coref"; }

    @Override public java.util.Set<String> flags() { return java.util.Set.of("force-ctx"); }

    @Override public String summary() { return "synthetic co-referential retrieval task: recall an invented name across distractor text"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler coref --model M.gguf [options]

                Each case introduces an invented, multi-token name ("Once upon a time, there was a little dragon named
                Zorvik."), adds distractor sentences until the case is --context tokens long, and ends with a sentence
                whose continuation is the name ("The name of the dragon was Zorvik."). Score: share of the final name's
                tokens mispredicted (argmax, teacher forcing), per policy and sparsity. Details: docs/EVALUATION.md.

                  --model M.gguf             the model
                  --policies LIST            comma-separated, default: all of %s
                                             (tokenbutler only with --predictor); dense always runs as the reference
                  --sparsity LIST            target sparsities, 0 < s < 1, default 0.5
                  --predictor P.gguf         TokenButler predictor for this model (needed by tokenbutler)
                  --cases N                  number of cases, default %d
                  --seed S                   case generator seed, default %d
                  --context N                tokens per case, BOS included, default %d or the model's declared context
                                             when smaller (at most the declared context, unless --force-ctx)
                  --force-ctx                allow --context beyond the context the model file declares
                  --distractor-text FILE     stories to draw distractor sentences from, default ../shared/%s
                  --write-cases FILE         write the generated cases (text, name, token positions)
                  --attention-opt K=V        extra option for every sparse policy, repeatable
                  --out results.csv          one row per (policy, sparsity)
                  --plot results.png         name-token error vs sparsity, one line per policy
                  --viz FILE.png             which past tokens one head attended, for one case (name tokens marked red):
                    --viz-policy P --viz-sparsity S --viz-layer L --viz-head H --viz-case I (0-based, default 0)
                """.formatted(String.join(",", Policies.KNOWN), DEFAULT_CASES, DEFAULT_SEED, DEFAULT_CTX, DEFAULT_DISTRACTORS);
    }

    @Override
    public int run(Args a) {
        Path model = a.existingFile("model");
        Path predictor = EvalCommand.predictor(a);
        List<String> policies = Policies.validate(name(), a.list("policies", Policies.defaults(predictor != null)), predictor != null);
        List<Double> sparsities = Policies.sparsities(name(), "sparsity", a.list("sparsity", List.of("0.5")));
        int cases = a.integer("cases", DEFAULT_CASES, 1, 1_000_000);
        long seed = a.longValue("seed", DEFAULT_SEED);
        int ctx = a.has("context") ? a.integer("context", DEFAULT_CTX, 16, 1 << 24) : CorefEvaluation.defaultContext(model, DEFAULT_CTX);
        boolean forceCtx = a.flag("force-ctx");
        Path distractors = a.has("distractor-text") ? a.existingFile("distractor-text") : defaultDistractors();
        Path writeCases = EvalCommand.output(a, "write-cases");
        Map<String, String> extra = Policies.extraOptions(name(), a.all("attention-opt"));
        Path csv = EvalCommand.output(a, "out");
        Path plot = EvalCommand.output(a, "plot");
        Visualization viz = EvalCommand.visualization(a, predictor, "viz-case");
        a.finish(0);

        var settings = new CorefEvaluation.Settings(model, distractors, ctx, cases, seed, policies, sparsities, predictor, extra, writeCases, viz, forceCtx);
        CorefEvaluation.Result result = CorefEvaluation.run(settings, err);
        var report = result.report();
        if (writeCases != null) err.println("coref: wrote " + writeCases);

        out.printf(Locale.ROOT, "Co-referential retrieval with %s: %d cases of up to %d tokens (seed %d, distractors from %s)%n%n",
                report.model(), report.cases().size(), ctx, seed, distractors.getFileName());
        out.print(report.table());
        if (csv != null) {
            AtomicFiles.writeText(csv, report.csv());
            err.println("coref: wrote " + csv);
        }
        if (plot != null) {
            AtomicFiles.writePng(plot, report.plot());
            err.println("coref: wrote " + plot);
        }
        if (viz != null) {
            CorefCase c = result.vizCase();
            int[] introName = range(c.introNameStart(), c.introNameEnd());
            // The rows that predict the name: position p's token is predicted by the query at p - 1.
            int[] predictingRows = range(c.nameStart() - 1, c.nameEnd() - 1);
            String title = String.format(Locale.ROOT, "%s @ %s%% sparsity - layer %d head %d - case %d (%s) - %s",
                    viz.policy(), Policies.formatPercent(viz.sparsity()), viz.layer(), viz.head(), viz.index(), c.name(), report.model());
            AtomicFiles.writePng(viz.file(), CoverageImage.render(result.coverage(), c.tokens().length, title, introName, predictingRows));
            err.println("coref: wrote " + viz.file());
        }
        return 0;
    }

    private static int[] range(int from, int to) {
        int[] r = new int[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }

    /**
     * ../shared/data/tinystories/valid.txt: $TOKENBUTLER_SHARED first, then the shared folder beside the
     * checkout this code runs from, then beside the current folder or one of its parents.
     */
    static Path defaultDistractors() {
        String env = System.getenv("TOKENBUTLER_SHARED");
        if (env != null) {
            Path p = Path.of(env).resolve(DEFAULT_DISTRACTORS);
            if (Files.isRegularFile(p)) return p;
        }
        for (Path start : new Path[]{codeLocation(), Path.of("").toAbsolutePath()}) {
            for (Path dir = start; dir != null; dir = dir.getParent()) {
                if (Files.isRegularFile(dir.resolve("tokenbutler")) && dir.getParent() != null) {
                    Path p = dir.getParent().resolve("shared").resolve(DEFAULT_DISTRACTORS);
                    if (Files.isRegularFile(p)) return p;
                }
            }
        }
        throw new UserError("coref: no --distractor-text given and the default ../shared/" + DEFAULT_DISTRACTORS
                + " was not found (looked in $TOKENBUTLER_SHARED and beside the checkout); pass --distractor-text FILE");
    }

    private static Path codeLocation() {
        try {
            return Path.of(CorefCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath();
        } catch (URISyntaxException | RuntimeException e) {
            return null;
        }
    }
}
