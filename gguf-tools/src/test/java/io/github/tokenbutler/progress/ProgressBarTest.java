package io.github.tokenbutler.progress;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/** The bar's text with a fake clock and a fake terminal flag: share, count, rate, time left, width, last line, plain lines. */
class ProgressBarTest {
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    private ProgressBar bar(boolean terminal, int columns, String label, long total, ProgressBar.Unit unit, int plainLines) {
        return new ProgressBar(err, terminal, nanos::get, columns, label, total, unit, plainLines);
    }

    private void seconds(double s) { nanos.addAndGet((long) (s * 1e9)); }

    private String shown() { return bytes.toString(StandardCharsets.UTF_8); }

    @Test
    void theLineShowsShareCountRateAndTimeLeft() {
        ProgressBar b = bar(true, 120, "eval", 20, ProgressBar.Unit.of("chunk", "chunks"), 10);
        seconds(5);
        b.update(10, "h2o @ 0.5");
        assertEquals("eval [===============               ]  50%  10/20 chunks, 2.0 chunks/s, 5.0 s left  h2o @ 0.5", b.line(nanos.get()));
        assertEquals("\r" + b.line(nanos.get()) + "\033[K", shown());
    }

    @Test
    void bytesAreShownInMegabytesAndSlowUnitsAsSecondsEach() {
        ProgressBar b = bar(true, 120, "synth", 1_000_000_000L, ProgressBar.Unit.BYTES, 0);
        seconds(5);
        b.written(500_000_000L, 1_000_000_000L);
        assertEquals("synth [===============               ]  50%  500.0 of 1000.0 MB, 100 MB/s, 5.0 s left", b.line(nanos.get()));
        ProgressBar slow = bar(true, 120, "eval", 20, ProgressBar.Unit.of("chunk", "chunks"), 10);
        seconds(100);
        slow.update(4);
        assertEquals("eval [======                        ]  20%  4/20 chunks, 25.0 s/chunk, 6m40s left", slow.line(nanos.get()));
    }

    @Test
    void theLineNeverOutgrowsTheTerminal() {
        ProgressBar b = bar(true, 60, "train", 1000, ProgressBar.Unit.of("step", "steps"), 100);
        seconds(10);
        b.update(250, "loss 0.1234  hit-rate 0.567  lr 1.00e-03");
        String line = b.line(nanos.get());
        assertTrue(line.length() <= 59, line.length() + ": " + line);
        assertTrue(line.startsWith("train [=== "), "the bar narrows to " + ProgressBar.MIN_BAR_WIDTH + " first: " + line);
        ProgressBar wide = bar(true, 200, "train", 1000, ProgressBar.Unit.of("step", "steps"), 100);
        wide.update(250, "loss 0.1234");
        assertTrue(wide.line(nanos.get()).startsWith("train [" + "=".repeat(8) + " ".repeat(22) + "]"), wide.line(nanos.get()));
    }

    @Test
    void theTerminalGetsOneLineRedrawnAtMostTenTimesASecondAndALastLine() {
        ProgressBar b = bar(true, 120, "coref", 50, ProgressBar.Unit.of("case", "cases"), 10);
        for (int i = 1; i <= 50; i++) {
            seconds(0.01);
            b.update(i);
        }
        b.finish();
        b.finish();
        String out = shown();
        long redraws = out.chars().filter(c -> c == '\r').count();
        assertTrue(redraws >= 5 && redraws <= 7, "first draw, one per 100 ms, the last line: " + redraws + " in " + out);
        assertEquals(1, out.chars().filter(c -> c == '\n').count(), "one line, rewritten in place: " + out);
        String last = out.substring(out.lastIndexOf('\r') + 1);
        assertEquals("coref [==============================] 100%  50/50 cases in 0.5 s, 100.0 cases/s\033[K\n", last);
    }

    @Test
    void finishingABarWithoutATotalStillEndsItsLine() {
        ProgressBar b = bar(true, 120, "read", 0, ProgressBar.Unit.of("file", "files"), 10);
        b.update(3, "reading");
        assertTrue(shown().startsWith("\r") && !shown().contains("\n"), "drawn: " + shown());
        b.finish();
        assertTrue(shown().endsWith("\n"), "the line is ended: " + shown());
        assertEquals(1, shown().chars().filter(c -> c == '\n').count());
        ProgressBar undrawn = bar(true, 120, "read", 0, ProgressBar.Unit.of("file", "files"), 10);
        bytes.reset();
        undrawn.finish();
        assertEquals("", shown(), "nothing drawn, nothing to end");
    }

    @Test
    void messagesGoAboveTheBarWhichIsDrawnAgain() {
        ProgressBar b = bar(true, 120, "eval", 4, ProgressBar.Unit.of("chunk", "chunks"), 10);
        seconds(1);
        b.update(2);
        b.message("eval: dense: perplexity 6.5");
        String out = shown();
        assertTrue(out.contains("\r\033[Keval: dense: perplexity 6.5\n\reval ["), out);
    }

    @Test
    void anotherStreamsTextAndOtherWritersOfStderrGetALineOfTheirOwn() {
        ProgressBar b = bar(true, 120, "bench", 10, ProgressBar.Unit.of("step", "steps"), 0);
        b.update(1);
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        b.printAbove(new PrintStream(table, true, StandardCharsets.UTF_8), "1024 dense 12.5\n");
        assertEquals("1024 dense 12.5\n", table.toString(StandardCharsets.UTF_8));
        assertTrue(shown().contains("\033[K\r\033[K\rbench ["), "the bar is taken off its line, then drawn again: " + shown());
        b.clear();
        assertTrue(shown().endsWith("\033[K\r\033[K"), shown());
        int length = shown().length();
        b.clear();
        assertEquals(length, shown().length(), "a cleared bar is not cleared twice");
        b.update(2);
        assertTrue(shown().endsWith("2/10 steps\033[K"), "the next update draws it again: " + shown());
    }

    @Test
    void aFailureEndsTheDrawnLineWithoutClaimingItFinished() {
        ProgressBar b = bar(true, 120, "quantize", 100, ProgressBar.Unit.BYTES, 0);
        b.written(10, 100);
        b.close();
        assertTrue(shown().endsWith("\033[K\n") && !shown().contains("100%"), shown());
    }

    @Test
    void aLogGetsAFewPlainLinesButNeverTheLast() {
        ProgressBar b = bar(false, 80, "eval", 100, ProgressBar.Unit.of("chunk", "chunks"), 10);
        for (int i = 1; i <= 100; i++) {
            seconds(0.1);
            b.update(i, "oracle @ 0.25");
        }
        b.finish();
        List<String> lines = shown().lines().toList();
        assertEquals(10, lines.size(), shown());
        assertEquals("eval: 1/100 chunks (0.1 s, 9.9 s left), oracle @ 0.25", lines.getFirst());
        assertEquals("eval: 90/100 chunks (9.0 s, 1.0 s left), oracle @ 0.25", lines.getLast());
        assertFalse(shown().contains("\r") || shown().contains("\033"), "no terminal control in a log");
    }

    @Test
    void aLogOfAWriterGetsNothing() {
        ProgressBar b = bar(false, 80, "synth", 0, ProgressBar.Unit.BYTES, 0);
        b.written(10, 100);
        b.written(100, 100);
        b.finish();
        b.close();
        assertEquals("", shown());
    }

    @Test
    void aResumedRunCountsItsRateFromWhereItStarted() {
        ProgressBar b = bar(true, 120, "train", 100, ProgressBar.Unit.of("step", "steps"), 100).startingAt(50);
        seconds(10);
        b.update(60);
        assertEquals("train [" + "=".repeat(18) + " ".repeat(12) + "]  60%  60/100 steps, 1.0 steps/s, 40 s left", b.line(nanos.get()));
    }

    @Test
    void weightedWorkSetsTheShareAndTimeLeftButNotTheCount() {
        ProgressBar b = bar(true, 120, "bench", 4, ProgressBar.Unit.of("step", "steps"), 0).weighted(10);
        seconds(2);
        b.update(2, 5, "");
        assertEquals("bench [===============               ]  50%  2/4 steps, 1.0 steps/s, 2.0 s left", b.line(nanos.get()));
    }

    @Test
    void durationsReadAsAPersonWouldWriteThem() {
        assertEquals("4.2 s", ProgressBar.duration(4.2));
        assertEquals("42 s", ProgressBar.duration(42.4));
        assertEquals("3m05s", ProgressBar.duration(185));
        assertEquals("1h02m03s", ProgressBar.duration(3723));
        assertEquals("?", ProgressBar.duration(Double.NaN));
    }
}
