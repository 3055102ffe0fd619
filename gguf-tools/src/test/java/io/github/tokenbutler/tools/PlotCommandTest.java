package io.github.tokenbutler.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static org.junit.jupiter.api.Assertions.*;

/** `plot` from the README's committed eval CSVs (no model run), and its option errors. */
class PlotCommandTest {
    @TempDir Path dir;

    static Path docs(String file) {
        String root = System.getenv("TOKENBUTLER_ROOT");
        return Path.of(root != null ? root : "..", "docs", file);
    }

    @Test
    void drawsTheReadmeFigureFromTheCommittedCsvs() throws Exception {
        Path out = dir.resolve("fig.png");
        var r = CliErrorsTest.run("plot", docs("results-stories260K.csv").toString(), "--add", docs("results-stories260K-v2.csv").toString(),
                "--as", "v2", "--context", "512", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(io.github.tokenbutler.plot.SparsityPlot.WIDTH, img.getWidth());
        assertEquals(io.github.tokenbutler.plot.SparsityPlot.HEIGHT, img.getHeight());
        assertTrue(r.err().contains("plot: wrote " + out), r.err());
    }

    @Test
    void badInputIsOneLineAndNoFile() throws Exception {
        Path out = dir.resolve("fig.png");
        String csv = docs("results-stories260K.csv").toString();
        assertUserError(CliErrorsTest.run("plot", csv, "--add", docs("results-stories260K-v2.csv").toString(), "--out", out.toString()),
                "each --add needs its --as NAME, got 1 --add and 0 --as");
        assertUserError(CliErrorsTest.run("plot", csv, "--add", docs("results-babyllama-tok105.csv").toString(), "--as", "b", "--out", out.toString()),
                "expected the same run as the first file's");
        assertUserError(CliErrorsTest.run("plot", docs("coref-stories260K.csv").toString(), "--out", out.toString()),
                "expected the header of eval's --out CSV");
        assertUserError(CliErrorsTest.run("plot", csv, "--context", "500", "--out", out.toString()), "not a whole number of chunks");
        assertUserError(CliErrorsTest.run("plot", csv), "--out");
        assertFalse(Files.exists(out), "nothing written");
    }
}
