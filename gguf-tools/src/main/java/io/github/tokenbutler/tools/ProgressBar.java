package io.github.tokenbutler.tools;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.train.ProgressLine;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A writer's progress on stderr: on a terminal one bar rewritten in place with the rate and the time left; in a
 * log (not a terminal) nothing until the end, so that CI output stays the commands' own lines.
 */
final class ProgressBar implements GgufWriter.Progress {
    private static final int WIDTH = 30;
    private final String label;
    private final PrintStream err;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    ProgressBar(String label, PrintStream err, boolean terminal) {
        this.label = label;
        this.err = err;
        this.terminal = terminal;
    }

    /** On stderr, drawn only when stderr is a terminal. */
    static ProgressBar onStderr(String label) {
        return new ProgressBar(label, System.err, ProgressLine.stderrIsTerminal());
    }

    @Override
    public void written(long done, long total) {
        if (!terminal || total <= 0) return;
        long now = System.nanoTime();
        if (done < total && now - lastDraw < 100_000_000L) return; // ten redraws a second are plenty
        lastDraw = now;
        err.print("\r" + line(done, total, (now - start) / 1e9) + "\033[K");
        err.flush();
        drawn = true;
        if (done >= total) finish();
    }

    /** Ends the bar's line, so that what follows starts on its own. */
    void finish() {
        if (drawn) err.println();
        drawn = false;
    }

    String line(long done, long total, double seconds) {
        double f = Math.min(1, (double) done / total);
        int full = (int) Math.round(f * WIDTH);
        double rate = seconds > 0 ? done / seconds : 0;
        String left = rate > 0 && done < total ? String.format(Locale.ROOT, ", %.0f s left", (total - done) / rate) : "";
        return String.format(Locale.ROOT, "%s [%s%s] %3.0f%%  %.1f of %.1f MB, %.0f MB/s%s", label, "=".repeat(full),
                " ".repeat(WIDTH - full), 100 * f, done / 1e6, total / 1e6, rate / 1e6, left);
    }
}
