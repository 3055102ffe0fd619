package io.github.tokenbutler.tools;

import io.github.tokenbutler.eval.CommandRunner;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class CorefCommandTest {
    private static Path model() { return SharedData.require("models/stories260K/stories260K.gguf"); }
    private static Path valid() { return SharedData.require("data/tinystories/valid.txt"); }

    private static UserError userError(String... argv) {
        return assertThrows(UserError.class, () -> CommandRunner.run(CorefCommand::new, argv));
    }

    @Test
    void optionErrors(@TempDir Path dir) {
        String m = model().toString();
        assertTrue(userError("--model", m, "--policies", "oracle,bogus").getMessage().contains("known policies: dense, oracle"));
        assertTrue(userError("--model", m, "--policies", "tokenbutler").getMessage().contains("--predictor"));
        assertTrue(userError("--model", m, "--cases", "0").getMessage().contains("--cases"));
        assertTrue(userError("--model", m, "--seed", "x").getMessage().contains("--seed"));
        assertTrue(userError("--model", m, "--distractor-text", dir.resolve("none.txt").toString()).getMessage().contains("not found"));
        assertTrue(userError("--model", m, "--viz-case", "1").getMessage().contains("only applies with --viz"));
        assertTrue(userError("--model", m, "--sparsity", "0").getMessage().contains("between 0 and 1"));
    }

    @Test
    void emptyDistractorTextIsRefused(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("e.txt"), "");
        assertTrue(userError("--model", model().toString(), "--distractor-text", empty.toString()).getMessage().contains("holds no text"));
    }

    @Test
    void ctxBeyondTheDeclaredContextNeedsForce() {
        UserError e = userError("--model", model().toString(), "--ctx", "256");
        assertTrue(e.getMessage().contains("declares a context of 128"), e.getMessage());
    }

    @Test
    void defaultDistractorsAreTheSharedValidationSet() throws Exception {
        valid();
        assertEquals(Files.readString(valid()), Files.readString(CorefCommand.defaultDistractors()));
    }

    // ---- end to end on stories260K (skipped while the runtime/plugin are stubs) ----

    @Test
    void corefRunsWritesCasesCsvAndViz(@TempDir Path dir) throws Exception {
        Path cases = dir.resolve("cases.txt"), csv = dir.resolve("coref.csv"), viz = dir.resolve("coref.png");
        var r = CommandRunner.run(CorefCommand::new, "--model", model().toString(), "--distractor-text", valid().toString(),
                "--policies", "dense,oracle,random", "--sparsity", "0.5", "--cases", "6", "--seed", "3", "--ctx", "192", "--force-ctx",
                "--write-cases", cases.toString(), "--out", csv.toString(), "--viz", viz.toString(), "--viz-policy", "oracle");
        assertEquals(0, r.exitCode());
        assertEquals(6, Files.readAllLines(cases).stream().filter(l -> l.startsWith("## case ")).count());
        List<String> lines = Files.readAllLines(csv);
        assertEquals(1 + 3, lines.size(), lines.toString());
        for (String line : lines.subList(1, lines.size())) {
            double err = Double.parseDouble(line.split(",")[5]);
            assertTrue(err >= 0 && err <= 100, line);
        }
        assertNotNull(ImageIO.read(viz.toFile()));
        assertTrue(r.out().contains("name tokens wrong"), r.out());
    }

    @Test
    void sameSeedSameResults(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.txt"), b = dir.resolve("b.txt");
        String out1 = null;
        for (Path p : List.of(a, b)) {
            var r = CommandRunner.run(CorefCommand::new, "--model", model().toString(), "--policies", "dense,oracle",
                    "--cases", "4", "--seed", "11", "--ctx", "128", "--write-cases", p.toString());
            if (out1 == null) out1 = r.out(); else assertEquals(out1, r.out());
        }
        assertEquals(Files.readString(a), Files.readString(b));
    }
}
