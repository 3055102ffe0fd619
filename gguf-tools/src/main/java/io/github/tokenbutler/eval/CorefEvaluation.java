package io.github.tokenbutler.eval;

import io.github.tokenbutler.corpus.Stories;
import io.github.tokenbutler.plot.SparsityPlot;
import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.plugin.selection.SelectionStatistics;
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
 * The co-referential retrieval task under each policy (docs/EVALUATION.md): one model load, the cases
 * generated once, dense once as the reference, then every (sparse policy, sparsity).
 */
public final class CorefEvaluation {
    private CorefEvaluation() {}

    public record Settings(Path model, Path distractorText, int ctx, int cases, long seed, List<String> sparsePolicies,
                           List<Double> sparsities, Path predictor, Map<String, String> extraOptions, Path writeCases,
                           Visualization viz, boolean forceCtx) {}

    public record Row(String policy, double sparsity, SelectionSummary selection, double nameTokenError, double missRate, int cases) {}

    public static final List<String> CSV_HEADER = List.of("model", "policy", "sparsity", "effective_sparsity_sparse_layers",
            "effective_sparsity_all_layers", "name_token_error_pct", "miss_rate_pct", "delta_vs_dense_points", "hit_rate", "cases");

    public record Report(String model, int ctx, List<CorefCase> cases, List<Row> rows) {
        public Row dense() { return rows.getFirst(); }

        /** Change of the name-token error against dense, in percentage points. */
        public double deltaPoints(Row r) { return 100.0 * (r.nameTokenError() - dense().nameTokenError()); }

        public String table() {
            TextTable t = new TextTable(List.of("policy", "sparsity", "eff. sparsity (sparse layers)", "eff. sparsity (all layers)",
                    "name tokens wrong", "cases missed", "vs dense", "hit-rate (oracle top-50%)", "cases"));
            for (Row r : rows) {
                t.add(List.of(r.policy(), PerplexityEvaluation.percent(r.sparsity()),
                        PerplexityEvaluation.percent(r.selection().effectiveSparsitySparseLayers()),
                        PerplexityEvaluation.percent(r.selection().effectiveSparsityAllLayers()),
                        PerplexityEvaluation.percent(r.nameTokenError()), PerplexityEvaluation.percent(r.missRate()),
                        r == dense() ? "-" : String.format(Locale.ROOT, "%+.1f pts", deltaPoints(r)),
                        PerplexityEvaluation.fixed(r.selection().hitRate(), 3), Integer.toString(r.cases())));
            }
            return t.render();
        }

        public String csv() {
            StringBuilder sb = new StringBuilder(Csv.line(CSV_HEADER));
            for (Row r : rows) {
                sb.append(Csv.line(List.of(model, r.policy(), Policies.formatSparsity(r.sparsity()),
                        Csv.number(r.selection().effectiveSparsitySparseLayers(), 6),
                        Csv.number(r.selection().effectiveSparsityAllLayers(), 6),
                        Csv.number(100 * r.nameTokenError(), 4), Csv.number(100 * r.missRate(), 4),
                        Csv.number(r == dense() ? 0 : deltaPoints(r), 4), Csv.number(r.selection().hitRate(), 6),
                        Integer.toString(r.cases()))));
            }
            return sb.toString();
        }

        public BufferedImage plot() {
            List<SparsityPlot.Series> series = new ArrayList<>();
            List<String> order = new ArrayList<>();
            for (Row r : rows) if (r != dense() && !order.contains(r.policy())) order.add(r.policy());
            for (String p : order) {
                List<double[]> pts = new ArrayList<>();
                for (Row r : rows) if (r != dense() && r.policy().equals(p)) pts.add(new double[]{r.sparsity(), 100 * r.nameTokenError()});
                series.add(new SparsityPlot.Series(p, pts));
            }
            // A share of 0..100 %: every policy fits one linear axis, random included.
            return SparsityPlot.render("Co-reference: name tokens mispredicted - " + model, "ctx " + ctx + ", " + cases.size() + " cases",
                    "target sparsity (share of past tokens skipped)", "name tokens wrong (%)", series, java.util.Set.of(),
                    "dense", 100 * dense().nameTokenError());
        }
    }

    public record Result(Report report, List<int[]> coverage, CorefCase vizCase) {}

    /** The --context used when none is given: 256 tokens, or the model's declared context when that is smaller. */
    public static int defaultContext(Path model, int preferred) {
        int declared = ModelLoading.declaredContext(model);
        return declared > 0 ? Math.min(preferred, declared) : preferred;
    }

    public static Result run(Settings s, PrintStream err) {
        List<String> corpus = Stories.read(s.distractorText(), "--distractor-text");
        if (corpus.isEmpty()) throw new UserError("coref: --distractor-text " + s.distractorText() + " holds no text");
        if (s.viz() != null && s.viz().index() >= s.cases()) {
            throw new UserError("coref: --viz-case " + s.viz().index() + " does not exist: there are " + s.cases()
                    + " cases (0.." + (s.cases() - 1) + ")");
        }
        ModelLoading.checkDeclaredContext("coref", s.model(), s.ctx(), s.forceCtx());
        try (Model model = ModelLoading.load("coref", s.model(), s.ctx())) {
            if (s.viz() != null) ModelLoading.checkHead("coref", model, s.viz().layer(), s.viz().head());
            ModelLoading.checkPredictor(model, s.predictor());
            ModelLoading.checkOptions(model, s.sparsePolicies(), s.sparsities(), s.predictor(), s.extraOptions());
            List<CorefCase> cases = new CorefCaseGenerator(model.tokenizer(), corpus, s.seed(), s.ctx()).generateAll(s.cases());
            if (s.writeCases() != null) {
                AtomicFiles.writeText(s.writeCases(), CorefCaseGenerator.describe(cases, s.seed(), s.ctx(),
                        s.distractorText().getFileName().toString()));
            }
            double meanDistance = cases.stream().mapToInt(CorefCase::distance).average().orElse(0);
            double meanNameTokens = cases.stream().mapToInt(CorefCase::nameTokens).average().orElse(0);
            err.printf(Locale.ROOT, "coref: %s, %d cases (seed %d): name %.1f tokens on average, %.0f tokens after its introduction%n",
                    s.model().getFileName(), cases.size(), s.seed(), meanNameTokens, meanDistance);
            int vocab = model.config().vocabSize();
            // The --viz case first: one sequence, and a policy that cannot record then fails before the long runs.
            List<int[]> coverage = null;
            CorefCase vizCase = null;
            if (s.viz() != null) {
                vizCase = cases.get(s.viz().index());
                coverage = s.viz().record(model, vizCase.tokens(), vizCase.tokens().length, s.predictor(), s.extraOptions());
            }
            List<Row> rows = new ArrayList<>();
            // One bar for the whole command: every run scores the same cases.
            int runs = 1 + s.sparsePolicies().size() * s.sparsities().size();
            try (ProgressBar progress = ProgressBar.on(err, "coref", (long) runs * cases.size(), ProgressBar.Unit.of("case", "cases"), 10)) {
                try (PolicySession dense = PolicySession.dense(model)) {
                    rows.add(runOne(dense, Policies.DENSE, 0, cases, vocab, progress, 0));
                }
                PolicySession.forEachSparse(model, s.sparsePolicies(), s.sparsities(), s.predictor(), s.extraOptions(), progress,
                        (session, policy, sparsity) -> rows.add(runOne(session, policy, sparsity, cases, vocab, progress, (long) rows.size() * cases.size())));
                progress.finish();
            }
            Report report = new Report(ModelLoading.modelName(s.model()), s.ctx(), cases, rows);
            return new Result(report, coverage, vizCase);
        }
    }

    /** Scores every case under one session; afterCase (may be null) is told how many are done. */
    public static CorefScore score(SequenceModel model, List<CorefCase> cases, int vocab, IntConsumer afterCase) {
        CorefScore score = new CorefScore();
        for (int i = 0; i < cases.size(); i++) {
            CorefCase c = cases.get(i);
            score.add(c, CorefScore.predictName(model, c, vocab));
            if (afterCase != null) afterCase.accept(i + 1);
        }
        return score;
    }

    private static Row runOne(PolicySession session, String policy, double sparsity, List<CorefCase> cases, int vocab,
                              ProgressBar progress, long casesBefore) {
        String run = policy + (policy.equals(Policies.DENSE) ? "" : " @ " + Policies.formatSparsity(sparsity));
        SelectionStatistics stats = session.resetStatistics();
        long start = System.nanoTime();
        progress.update(casesBefore, run);
        CorefScore score = score(session, cases, vocab, done -> progress.update(casesBefore + done, run));
        SelectionSummary selection = policy.equals(Policies.DENSE) ? SelectionSummary.DENSE : SelectionSummary.of(stats);
        progress.message(String.format(Locale.ROOT, "coref: %s: %.1f%% of name tokens wrong, %.1f%% of cases missed (%.1f s)", run,
                100 * score.nameTokenError(), 100 * score.missRate(), (System.nanoTime() - start) / 1e9));
        return new Row(policy, sparsity, selection, score.nameTokenError(), score.missRate(), score.cases());
    }
}
