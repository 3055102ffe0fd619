package io.github.tokenbutler.eval;

import io.github.tokenbutler.plot.SparsityPlot;
import io.github.tokenbutler.files.AtomicFiles;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The perplexity report's table, CSV and plot, from made-up rows (no model needed). */
class ReportTest {
    static PerplexityEvaluation.Report report() {
        var dense = new PerplexityEvaluation.Row("dense", 0, SelectionSummary.DENSE, 3.5, Math.log(3.5), 2044);
        var o25 = new PerplexityEvaluation.Row("oracle", 0.25, new SelectionSummary(0.25, 0.2, 1.0), 3.52, Math.log(3.52), 2044);
        var o50 = new PerplexityEvaluation.Row("oracle", 0.5, new SelectionSummary(0.5, 0.4, 1.0), 3.6, Math.log(3.6), 2044);
        var r50 = new PerplexityEvaluation.Row("random", 0.5, new SelectionSummary(0.5, 0.4, 0.5), 9.0, Math.log(9.0), 2044);
        var q50 = new PerplexityEvaluation.Row("quest", 0.5, SelectionSummary.UNMEASURED, 4.0, Math.log(4.0), 2044);
        return new PerplexityEvaluation.Report("stories260K", 512, 4, List.of(dense, o25, o50, r50, q50));
    }

    @Test
    void csvHasTheExactHeaderAndOneRowPerPolicyAndSparsity() {
        String[] lines = report().csv().split("\n");
        assertEquals("model,policy,sparsity,effective_sparsity_sparse_layers,effective_sparsity_all_layers,perplexity,delta_vs_dense,hit_rate,tokens", lines[0]);
        assertEquals(6, lines.length);
        assertEquals("stories260K,dense,0,0.000000,0.000000,3.500000,0.0000,1.000000,2044", lines[1]);
        assertEquals("stories260K,oracle,0.5,0.500000,0.400000,3.600000,2.8571,1.000000,2044", lines[3]);
        assertTrue(lines[5].contains(",NaN,"), "unmeasured statistics are NaN: " + lines[5]);
        for (String l : lines) assertEquals(9, l.split(",", -1).length, l);
    }

    @Test
    void tableShowsEveryRowWithChangeVsDense() {
        String t = report().table();
        assertTrue(t.startsWith("policy"), t);
        assertTrue(t.contains("+2.86%"), t);
        assertTrue(t.contains("+157.14%"), t);
        assertEquals(7, t.split("\n").length, "header, rule, 5 rows");
        for (String line : t.split("\n")) assertFalse(line.endsWith(" "), "no trailing spaces");
    }

    @Test
    void plotIsADecodablePngAndDeterministic() throws Exception {
        byte[] a = AtomicFiles.png(report().plot());
        byte[] b = AtomicFiles.png(report().plot());
        assertArrayEquals(a, b, "same results, same bytes");
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(a));
        assertNotNull(img);
        assertEquals(SparsityPlot.WIDTH, img.getWidth());
        assertEquals(SparsityPlot.HEIGHT, img.getHeight());
        // The policy colours appear on the image (lines and legend).
        assertTrue(hasColor(img, SparsityPlot.colorOf("oracle", 0).getRGB()));
        assertTrue(hasColor(img, SparsityPlot.colorOf("random", 0).getRGB()));
    }

    @Test
    void theCsvReadsBackToTheSameReportAndItsPlot() throws Exception {
        var r = report();
        var back = PerplexityEvaluation.Report.fromCsv(r.csv(), "results.csv");
        assertEquals(r.csv(), back.csv(), "every column survives the round trip");
        assertArrayEquals(AtomicFiles.png(r.plot()), AtomicFiles.png(back.withContext(512, "results.csv").plot()),
                "re-plotting from the CSV with --context draws what eval drew");
        assertEquals(4, back.withContext(512, "results.csv").chunks());
        var e = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> back.withContext(500, "results.csv"));
        assertTrue(e.getMessage().contains("not a whole number of chunks"), e.getMessage());
    }

    @Test
    void anotherRunsRowsJoinUnderASuffixBesideTheirPolicy() {
        var v2 = PerplexityEvaluation.Report.fromCsv(String.join("\n",
                String.join(",", PerplexityEvaluation.CSV_HEADER),
                "stories260K,dense,0,0,0,3.5,0,1,2044",
                "stories260K,oracle,0.5,0.5,0.4,3.55,1.4,1,2044"), "v2.csv");
        var merged = report().with(v2, "v2", "v2.csv");
        List<String> policies = merged.rows().stream().map(PerplexityEvaluation.Row::policy).toList();
        assertEquals(List.of("dense", "oracle", "oracle", "oracle v2", "random", "quest"), policies);
        var otherRun = PerplexityEvaluation.Report.fromCsv(String.join(",", PerplexityEvaluation.CSV_HEADER) + "\nstories260K,dense,0,0,0,3.9,0,1,2044\n", "x.csv");
        var e = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> report().with(otherRun, "v2", "x.csv"));
        assertTrue(e.getMessage().startsWith("x.csv: dense perplexity 3.9"), e.getMessage());
    }

    @Test
    void aCsvThatEvalDidNotWriteIsNamedWithWhatWasExpected() {
        var bad = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class,
                () -> PerplexityEvaluation.Report.fromCsv("model,policy,sparsity\n", "coref.csv"));
        assertTrue(bad.getMessage().startsWith("coref.csv: expected the header of eval's --out CSV"), bad.getMessage());
        var notANumber = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> PerplexityEvaluation.Report.fromCsv(
                String.join(",", PerplexityEvaluation.CSV_HEADER) + "\nm,dense,0,0,0,six,0,1,10\n", "r.csv"));
        assertEquals("r.csv line 2: perplexity 'six' is not a number", notANumber.getMessage());
        var notDense = assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> PerplexityEvaluation.Report.fromCsv(
                String.join(",", PerplexityEvaluation.CSV_HEADER) + "\nm,oracle,0.5,0,0,6,0,1,10\n", "r.csv"));
        assertTrue(notDense.getMessage().contains("the first row must be dense"), notDense.getMessage());
    }

    @Test
    void csvFieldsAreUnquotedAsRfc4180Says() {
        assertEquals(List.of(List.of("a,b", "say \"hi\"", ""), List.of("x")), Csv.parse("\"a,b\",\"say \"\"hi\"\"\",\r\n\nx\n", "t.csv"));
        assertThrows(io.github.tokenbutler.runtime.Llama3.UserError.class, () -> Csv.parse("\"open", "t.csv"));
    }

    static boolean hasColor(BufferedImage img, int rgb) {
        for (int y = 0; y < img.getHeight(); y++) for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xFFFFFF) == (rgb & 0xFFFFFF)) return true;
        return false;
    }
}
