package io.github.tokenbutler.eval;

import io.github.tokenbutler.corpus.TokenChunks;
import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.plot.SparsityPlot;
import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.awt.image.BufferedImage;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Perplexity under each policy (docs/EVALUATION.md): one model load, dense once as the reference, then
 * every (sparse policy, sparsity) in the order given, each over the same chunks.
 */
public final class PerplexityEvaluation {
    private PerplexityEvaluation() {}

    /** Everything a run needs, validated by the command before the model is loaded. */
    public record Settings(Path model, Path text, int ctx, List<String> sparsePolicies, List<Double> sparsities,
                           Path predictor, Map<String, String> extraOptions, int maxChunks, Visualization viz, boolean forceCtx,
                           KvType keyType, KvType valueType) {}

    /** One line of results. sparsity 0 for dense. */
    public record Row(String policy, double sparsity, SelectionSummary selection, double perplexity, double meanNll, long tokens) {}

    /** The CSV header, fixed: scripts and the README's tables depend on it. */
    public static final List<String> CSV_HEADER = List.of("model", "policy", "sparsity", "effective_sparsity_sparse_layers",
            "effective_sparsity_all_layers", "perplexity", "delta_vs_dense", "hit_rate", "tokens");

    public record Report(String model, int ctx, int chunks, List<Row> rows) {
        public Row dense() { return rows.getFirst(); }

        /** Relative change of perplexity against dense, in percent. */
        public double deltaPercent(Row r) { return 100.0 * (r.perplexity() / dense().perplexity() - 1.0); }

        public String table() {
            TextTable t = new TextTable(List.of("policy", "sparsity", "eff. sparsity (sparse layers)", "eff. sparsity (all layers)",
                    "perplexity", "vs dense", "hit-rate (oracle top-50%)", "tokens"));
            for (Row r : rows) {
                t.add(List.of(r.policy(), percent(r.sparsity()), percent(r.selection().effectiveSparsitySparseLayers()),
                        percent(r.selection().effectiveSparsityAllLayers()), fixed(r.perplexity(), 4),
                        r == dense() ? "-" : String.format(Locale.ROOT, "%+.2f%%", deltaPercent(r)),
                        fixed(r.selection().hitRate(), 3), Long.toString(r.tokens())));
            }
            return t.render();
        }

        /** One row per (policy, sparsity), dense first; delta_vs_dense in percent. */
        public String csv() {
            StringBuilder sb = new StringBuilder(Csv.line(CSV_HEADER));
            for (Row r : rows) {
                sb.append(Csv.line(List.of(model, r.policy(), Policies.formatSparsity(r.sparsity()),
                        Csv.number(r.selection().effectiveSparsitySparseLayers(), 6),
                        Csv.number(r.selection().effectiveSparsityAllLayers(), 6),
                        Csv.number(r.perplexity(), 6), Csv.number(r == dense() ? 0 : deltaPercent(r), 4),
                        Csv.number(r.selection().hitRate(), 6), Long.toString(r.tokens()))));
            }
            return sb.toString();
        }

        /**
         * Perplexity against target sparsity, one line per policy; random, 1.2-13× dense in the README's runs,
         * in its own panel so that the linear axis of the others spans their few percent.
         */
        public BufferedImage plot() {
            List<SparsityPlot.Series> series = new ArrayList<>();
            List<String> order = new ArrayList<>();
            for (Row r : rows) if (r != dense() && !order.contains(r.policy())) order.add(r.policy());
            for (String p : order) {
                List<double[]> pts = new ArrayList<>();
                for (Row r : rows) if (r != dense() && r.policy().equals(p)) pts.add(new double[]{r.sparsity(), r.perplexity()});
                series.add(new SparsityPlot.Series(p, pts));
            }
            String subtitle = (ctx > 0 ? "ctx " + ctx + ", " + chunks + (chunks == 1 ? " chunk, " : " chunks, ") : "")
                    + String.format(Locale.ROOT, "%,d tokens scored per policy", dense().tokens());
            return SparsityPlot.render("Perplexity against target sparsity - " + model, subtitle, "target sparsity (share of past tokens skipped)",
                    "perplexity", series, PLOTTED_APART, "dense", dense().perplexity());
        }

        /**
         * This report and another's sparse rows, their policies named with a suffix ("tokenbutler v2"): the
         * README's second eval run of each model, the revised predictor on the same chunks.
         */
        public Report with(Report other, String suffix, String where) {
            if (!other.model().equals(model) || Math.abs(other.dense().perplexity() - dense().perplexity()) > 1e-6 * dense().perplexity()
                    || other.dense().tokens() != dense().tokens()) {
                throw new UserError(where + ": dense perplexity " + other.dense().perplexity() + " of " + other.model() + " over "
                        + other.dense().tokens() + " tokens; expected the same run as the first file's (" + dense().perplexity()
                        + " of " + model + " over " + dense().tokens() + " tokens)");
            }
            List<Row> all = new ArrayList<>(rows);
            for (Row r : other.rows()) {
                if (r == other.dense()) continue;
                Row renamed = new Row(r.policy() + " " + suffix, r.sparsity(), r.selection(), r.perplexity(), r.meanNll(), r.tokens());
                // Beside its policy (after its last row and the variant's rows so far), so the legend lists them together.
                int at = all.size();
                for (int i = all.size() - 1; i > 0; i--) {
                    if (all.get(i).policy().equals(r.policy()) || all.get(i).policy().equals(renamed.policy())) { at = i + 1; break; }
                }
                all.add(at, renamed);
            }
            return new Report(model, ctx, chunks, all);
        }

        /** The same report with the context eval ran at, from which the chunk count follows (tokens = chunks x (ctx - 1)). */
        public Report withContext(int context, String where) {
            long perChunk = context - 1L;
            if (context < 2 || dense().tokens() % perChunk != 0) {
                throw new UserError(where + ": " + dense().tokens() + " tokens scored per policy are not a whole number of chunks of "
                        + context + " tokens (" + perChunk + " scored each); was eval run with another --context?");
            }
            return new Report(model, context, (int) (dense().tokens() / perChunk), rows);
        }

        /**
         * A report read back from {@link #csv()} (eval --out), for re-plotting without re-running; where names the
         * file in messages. The context and chunk count are not in the file (0 here).
         */
        public static Report fromCsv(String text, String where) {
            List<List<String>> records = Csv.parse(text, where);
            if (records.isEmpty() || !records.getFirst().equals(CSV_HEADER)) {
                throw new UserError(where + ": expected the header of eval's --out CSV, " + String.join(",", CSV_HEADER) + ", found "
                        + (records.isEmpty() ? "an empty file" : "'" + String.join(",", records.getFirst()) + "'"));
            }
            List<Row> rows = new ArrayList<>();
            String model = null;
            for (int i = 1; i < records.size(); i++) {
                List<String> f = records.get(i);
                String line = where + " line " + (i + 1);
                if (f.size() != CSV_HEADER.size()) {
                    throw new UserError(line + ": expected " + CSV_HEADER.size() + " fields, found " + f.size());
                }
                if (model == null) model = f.get(0);
                else if (!model.equals(f.get(0))) throw new UserError(line + ": model '" + f.get(0) + "', expected '" + model + "' as on line 2");
                String policy = f.get(1);
                if (rows.isEmpty() && !policy.equals("dense")) throw new UserError(line + ": the first row must be dense (eval writes it first), found '" + policy + "'");
                rows.add(new Row(policy, number(f.get(2), line, "sparsity"), new SelectionSummary(number(f.get(3), line, "effective_sparsity_sparse_layers"),
                        number(f.get(4), line, "effective_sparsity_all_layers"), number(f.get(7), line, "hit_rate")),
                        number(f.get(5), line, "perplexity"), Math.log(number(f.get(5), line, "perplexity")), (long) number(f.get(8), line, "tokens")));
            }
            if (rows.isEmpty()) throw new UserError(where + ": no rows after the header");
            return new Report(model, 0, 0, rows);
        }

        private static double number(String s, String where, String column) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw new UserError(where + ": " + column + " '" + s + "' is not a number");
            }
        }
    }

    /** Policies drawn in the plot's lower panel, on their own axis. */
    static final java.util.Set<String> PLOTTED_APART = java.util.Set.of("random");

    static String percent(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    static String fixed(double v, int decimals) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** The loss of a sequence model over all chunks; afterChunk (may be null) is told how many are done. */
    public static NextTokenLoss measure(SequenceModel model, TokenChunks chunks, int vocab, IntConsumer afterChunk) {
        NextTokenLoss loss = new NextTokenLoss();
        for (int c = 0; c < chunks.count(); c++) {
            int[] chunk = chunks.chunkShared(c);
            SequenceModel.run(model, chunk, chunk.length, vocab,
                    (logits, first, rows) -> loss.addRows(logits, first, rows, chunk, chunk.length, vocab));
            if (afterChunk != null) afterChunk.accept(c + 1);
        }
        return loss;
    }

    /** Runs the whole evaluation; progress on err. The returned report also holds the coverage rows when --viz was asked. */
    public static Result run(Settings s, PrintStream err) {
        List<String> stories = Stories.read(s.text(), "--text");
        if (stories.isEmpty()) {
            throw new UserError("eval: --text " + s.text() + " holds no text (empty or only separators)");
        }
        ModelLoading.checkDeclaredContext("eval", s.model(), s.ctx(), s.forceCtx());
        try (Model model = ModelLoading.load("eval", s.model(), s.ctx(), s.keyType(), s.valueType())) {
            if (s.viz() != null) ModelLoading.checkHead("eval", model, s.viz().layer(), s.viz().head());
            ModelLoading.checkPredictor(model, s.predictor());
            ModelLoading.checkOptions(model, s.sparsePolicies(), s.sparsities(), s.predictor(), s.extraOptions());
            int[] stream = TokenChunks.stream(stories, model.tokenizer());
            TokenChunks chunks = TokenChunks.of(stream, model.tokenizer().bosId(), s.ctx(), s.maxChunks(), "--text " + s.text());
            err.printf(Locale.ROOT, "eval: %s, %d stories -> %d tokens; %d chunks of %d tokens scored (%d tail tokens unscored%s)%n",
                    s.model().getFileName(), stories.size(), chunks.streamTokens(), chunks.count(), s.ctx(), chunks.droppedTailTokens(),
                    s.maxChunks() > 0 ? ", --max-chunks " + s.maxChunks() : "");
            if (s.viz() != null && s.viz().index() >= chunks.count()) {
                throw new UserError("eval: --viz-chunk " + s.viz().index() + " does not exist: there are "
                        + chunks.count() + " chunks (0.." + (chunks.count() - 1) + ")");
            }
            int vocab = model.config().vocabSize();
            // The --viz sequence first: it costs one chunk, and a policy that cannot record then fails before the long runs.
            List<int[]> coverage = null;
            if (s.viz() != null) {
                int[] chunk = chunks.chunk(s.viz().index());
                coverage = s.viz().record(model, chunk, chunk.length, s.predictor(), s.extraOptions());
            }
            List<Row> rows = new ArrayList<>();
            // One bar for the whole command (every run scores the same chunks), so that its time left is the command's.
            int runs = 1 + s.sparsePolicies().size() * s.sparsities().size();
            try (ProgressBar progress = ProgressBar.on(err, "eval", (long) runs * chunks.count(), ProgressBar.Unit.of("chunk", "chunks"), 10)) {
                try (PolicySession dense = PolicySession.dense(model)) {
                    rows.add(runOne(dense, "dense", 0, chunks, vocab, progress, 0));
                }
                PolicySession.forEachSparse(model, s.sparsePolicies(), s.sparsities(), s.predictor(), s.extraOptions(), progress,
                        (session, policy, sparsity) -> rows.add(runOne(session, policy, sparsity, chunks, vocab, progress, (long) rows.size() * chunks.count())));
                progress.finish();
            }
            Report report = new Report(ModelLoading.modelName(s.model()), s.ctx(), chunks.count(), rows);
            return new Result(report, coverage);
        }
    }

    /** A report and, with --viz, the recorded selections of the visualized head. */
    public record Result(Report report, List<int[]> coverage) {}

    private static Row runOne(PolicySession session, String policy, double sparsity, TokenChunks chunks, int vocab,
                              ProgressBar progress, long chunksBefore) {
        String run = policy + (policy.equals("dense") ? "" : " @ " + Policies.formatSparsity(sparsity));
        SelectionStatistics stats = session.resetStatistics();
        long start = System.nanoTime();
        progress.update(chunksBefore, run);
        NextTokenLoss loss = measure(session, chunks, vocab, done -> progress.update(chunksBefore + done, run));
        SelectionSummary selection = policy.equals("dense") ? SelectionSummary.DENSE : SelectionSummary.of(stats);
        progress.message(String.format(Locale.ROOT, "eval: %s: perplexity %.4f over %d tokens (%.1f s)", run, loss.perplexity(), loss.count(),
                (System.nanoTime() - start) / 1e9));
        return new Row(policy, sparsity, selection, loss.perplexity(), loss.meanNll(), loss.count());
    }
}
