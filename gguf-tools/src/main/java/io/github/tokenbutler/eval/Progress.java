package io.github.tokenbutler.eval;

import java.io.PrintStream;

/** Progress lines on stderr: about ten per run, so long runs show life and logs stay short. */
public final class Progress {
    private final PrintStream err;
    private final String label;
    private final int total;
    private final long start = System.nanoTime();
    private int nextReport;

    public Progress(PrintStream err, String label, int total) {
        this.err = err;
        this.label = label;
        this.total = total;
        this.nextReport = Math.max(1, total / 10);
    }

    void done(int done, String unit) {
        if (done >= nextReport && done < total) {
            err.printf(java.util.Locale.ROOT, "%s: %d/%d %s (%.1f s)%n", label, done, total, unit, seconds());
            nextReport += Math.max(1, total / 10);
        }
    }

    double seconds() { return (System.nanoTime() - start) / 1e9; }
}
