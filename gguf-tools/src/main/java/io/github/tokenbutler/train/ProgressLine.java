package io.github.tokenbutler.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * The training progress: on a terminal one line rewritten in place (carriage return), otherwise plain lines,
 * about a hundred per run so that logs stay readable. Validation results and messages are always whole lines.
 */
public final class ProgressLine {
    private final PrintStream err;
    private final boolean terminal;
    private final int totalSteps, plainEvery;
    private final long start = System.nanoTime();
    private final int firstStep;
    private boolean lineOpen;

    public ProgressLine(PrintStream err, boolean terminal, int firstStep, int totalSteps) {
        this.err = err;
        this.terminal = terminal;
        this.firstStep = firstStep;
        this.totalSteps = totalSteps;
        this.plainEvery = Math.max(1, totalSteps / 100);
    }

    /** Whether stderr is an interactive terminal (JDK 22+: Console.isTerminal). */
    public static boolean stderrIsTerminal() {
        java.io.Console c = System.console();
        return c != null && c.isTerminal();
    }

    /** After step (1-based count of steps done). */
    public void step(int done, double loss, double hitRate, double lr) {
        double elapsed = (System.nanoTime() - start) / 1e9;
        int doneHere = done - firstStep;
        double left = doneHere > 0 ? elapsed / doneHere * (totalSteps - done) : Double.NaN;
        String line = String.format(Locale.ROOT, "step %d/%d  loss %.4f  hit-rate %.3f  lr %.2e  elapsed %s  left %s",
                done, totalSteps, loss, hitRate, lr, duration(elapsed), duration(left));
        if (terminal) {
            err.print("\r" + line + "\033[K");
            err.flush();
            lineOpen = true;
        } else if (done % plainEvery == 0 || done == totalSteps || doneHere == 1) {
            err.println(line);
        }
    }

    /** A whole line (validation, checkpoint), below the progress line. */
    public void message(String text) {
        if (lineOpen) { err.println(); lineOpen = false; }
        err.println(text);
    }

    public void finish() {
        if (lineOpen) { err.println(); lineOpen = false; }
    }

    public double elapsedSeconds() { return (System.nanoTime() - start) / 1e9; }

    static String duration(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds)) return "?";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
