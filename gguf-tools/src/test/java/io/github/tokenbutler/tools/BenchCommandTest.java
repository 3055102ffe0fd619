package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `bench` on the tiny test model: that both modes run and print what the README's performance section reads
 * from them, not how fast anything is (speed is never checked by a test).
 */
class BenchCommandTest {
    static final Path TINY = SharedData.testModel("tiny-f32.gguf");

    @Test
    void throughputModePrintsPrefillDecodeAndTheBandwidthComparison() {
        CliErrorsTest.Result r = run("bench", "--model", TINY.toString(), "--prompt-tokens", "8", "--gen-tokens", "4", "--repeat", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("prefill") && r.out().contains("decode") && r.out().contains("tokens/s"), r.out());
        assertTrue(r.out().contains("GB/s of weights") && r.out().contains("bandwidth"), r.out());
    }

    @Test
    void longContextModePrintsOneRowPerContextAndAttention() {
        CliErrorsTest.Result r = run("bench", "--model", TINY.toString(), "--context", "32,96", "--attention", "dense,streaming",
                "--attention-opt", "sparsity=0.5", "--steps", "2", "--warmup", "1", "--rounds", "2");
        assertEquals(0, r.code(), r.err());
        List<String> rows = r.out().lines().filter(l -> l.matches("^(32|96) +(dense|streaming) .*")).toList();
        assertEquals(4, rows.size(), r.out());
        assertTrue(rows.get(0).contains("1.00x"), "dense is the baseline: " + rows.get(0));
        assertTrue(r.out().contains("best of 2 rounds"), r.out());
    }

    @Test
    void eachBackendsWorkIsComparedWithTheCpusInTheSameTable() {
        // tokenbutler/cpu 40 ms over 4 steps (10 a step), tokenbutler/opencl 60 ms (15): 1.50x; dense has no backend
        List<String> lines = BenchCommand.backendComparisons(List.of("dense", "tokenbutler/cpu", "tokenbutler/opencl", "h2o/opencl"),
                new long[]{90_000_000L, 40_000_000L, 60_000_000L, 30_000_000L}, 4);
        assertEquals(List.of("tokenbutler/opencl: predictor + selection + attention 15.00 ms a step, 1.50x tokenbutler/cpu's 10.00 ms"), lines);
        assertEquals(List.of(), BenchCommand.backendComparisons(List.of("dense", "tokenbutler"), new long[]{1, 1}, 1));
    }

    @Test
    void badOptionsAreOneLineErrors() {
        assertUserError(run("bench", "--model", TINY.toString(), "--context", "64", "--rounds", "0"), "rounds");
        assertUserError(run("bench", "--model", TINY.toString(), "--context", "64", "--attention", "nosuch"), "nosuch");
        assertUserError(run("bench", "--model", TINY.toString(), "--context", "64", "--attention", "dense,streaming",
                "--backends", "cpu", "--attention-opt", "backend=cpu"), "--backends");
    }
}
