package io.github.tokenbutler.tools;

import io.github.tokenbutler.eval.PerplexityEvaluation;
import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * `plot`: eval's perplexity-against-sparsity figure from the CSVs eval wrote (--out), without running eval
 * again; the README's figures are made this way from the committed CSVs, the revised predictor's run added.
 */
public final class PlotCommand implements Command {
    @Override public String name() { return "plot"; }

    @Override public String summary() { return "eval's perplexity-vs-sparsity figure from its CSV (--out), no model run"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler plot RESULTS.csv --out FIGURE.png [--context N] [--add MORE.csv --as NAME ...]
                  RESULTS.csv       a CSV that eval wrote with --out (dense first, then one row per policy and sparsity)
                  --out FIGURE.png  the figure: the same as eval --plot draws for these rows
                  --context N       the --context eval ran with, shown with the chunk count it implies
                  --add MORE.csv    the sparse rows of another eval run on the same model and chunks (its dense
                    --as NAME       row must match), their policies named 'POLICY NAME' (e.g. --as v2: 'tokenbutler v2');
                                    repeatable, each --add with its --as, in order
                """;
    }

    @Override public int run(Args a) {
        Path first = a.existingPositional(0, "RESULTS.csv (a CSV written by eval --out)");
        Path out = a.outputFile("out");
        List<String> added = a.all("add"), names = a.all("as");
        int context = a.has("context") ? a.integer("context", 0, 2, 1 << 24) : 0;
        a.finish(1);
        if (added.size() != names.size()) {
            throw new UserError("plot: each --add needs its --as NAME, got " + added.size() + " --add and " + names.size() + " --as");
        }
        PerplexityEvaluation.Report report = read(first);
        for (int i = 0; i < added.size(); i++) {
            Path more = io.github.tokenbutler.runtime.Llama3.requireReadableFile(Path.of(added.get(i)), "plot: --add file");
            String name = names.get(i).trim();
            if (name.isEmpty()) throw new UserError("plot: --as needs a name for the policies of " + more + ", got an empty one");
            report = report.with(read(more), name, more.toString());
        }
        if (context > 0) report = report.withContext(context, first.toString());
        AtomicFiles.writePng(out, report.plot());
        System.err.println("plot: wrote " + out);
        return 0;
    }

    private static PerplexityEvaluation.Report read(Path csv) {
        try {
            return PerplexityEvaluation.Report.fromCsv(Files.readString(csv, StandardCharsets.UTF_8), csv.toString());
        } catch (IOException e) {
            throw UserError.io("plot: cannot read " + csv, e);
        }
    }
}
