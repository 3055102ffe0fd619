package io.github.tokenbutler.progress;

import io.github.tokenbutler.gguf.GgufWriter;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The one progress display of the long commands. On a terminal: one line rewritten in place (carriage return)
 * at most ten times a second, {@code label [=====     ]  45%  9/20 chunks, 3.1 chunks/s, 4.2 s left  status},
 * cut to the terminal's width so that it never wraps (a wrapped line cannot be rewritten), and on
 * {@link #finish()} a last line with the time it took. Elsewhere (a log, a pipe, CI): {@code plainLines} plain
 * lines per run at most, {@code label: 9/20 chunks (2.9 s, 4.2 s left), status}, the first update and then each
 * time another 1/plainLines of the work is done, never the last (the command prints its own result line);
 * {@code plainLines} 0 writes nothing at all.
 *
 * <p>Share and time left are taken from the work done, which is the count unless the caller weighs its units
 * ({@link #update(long, long, String)}; bench's decode steps cost more at longer contexts). The rate is counted
 * from {@link #startingAt} so that a resumed run does not count the steps done before it.
 */
public final class ProgressBar implements GgufWriter.Progress, AutoCloseable {
    /** What is counted: its names for one and for many, or bytes (shown in MB). */
    public record Unit(String one, String many, boolean bytes) {
        public static final Unit BYTES = new Unit("byte", "bytes", true);

        public static Unit of(String one, String many) { return new Unit(one, many, false); }

        String count(long done, long total) {
            return bytes ? String.format(Locale.ROOT, "%.1f of %.1f MB", done / 1e6, total / 1e6) : done + "/" + total + " " + many;
        }

        /** Per second, or seconds per unit when units take longer than a second (a 1B model's eval chunk). */
        String rate(double perSecond) {
            if (bytes) return String.format(Locale.ROOT, "%.0f MB/s", perSecond / 1e6);
            return perSecond >= 1 ? String.format(Locale.ROOT, "%.1f %s/s", perSecond, many)
                    : String.format(Locale.ROOT, "%.1f s/%s", 1 / perSecond, one);
        }
    }

    static final long REDRAW_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    static final int BAR_WIDTH = 30, MIN_BAR_WIDTH = 10;

    private final PrintStream err;
    private final boolean terminal;
    private final LongSupplier clock;
    private final int columns;
    private final String label;
    private final Unit unit;
    private final int plainLines;
    private final long start;
    private long total, totalWork, first;
    private long done, work;
    private String status = "";
    private long lastDraw;
    private boolean weightedWork, drawn, plainStarted, finished;
    private long nextPlainWork;

    /**
     * @param terminal   whether err is an interactive terminal (the bar) or not (plain lines)
     * @param clock      nanoseconds, as System::nanoTime
     * @param columns    the terminal's width; a drawn line is at most columns - 1 characters
     * @param plainLines how many plain lines a run writes at most when err is not a terminal (0: none)
     */
    public ProgressBar(PrintStream err, boolean terminal, LongSupplier clock, int columns, String label, long total, Unit unit, int plainLines) {
        this.err = err;
        this.terminal = terminal;
        this.clock = clock;
        this.columns = Math.max(20, columns);
        this.label = label;
        this.unit = unit;
        this.plainLines = plainLines;
        this.total = total;
        this.totalWork = total;
        this.start = clock.getAsLong();
    }

    /** On err: the bar when err is this process's stderr and that is a terminal, plain lines otherwise. */
    public static ProgressBar on(PrintStream err, String label, long total, Unit unit, int plainLines) {
        boolean terminal = err == System.err && stderrIsTerminal();
        return new ProgressBar(err, terminal, System::nanoTime, terminal ? TerminalWidth.columns() : 80, label, total, unit, plainLines);
    }

    /** A writer's bytes on stderr: the bar on a terminal, nothing in a log. */
    public static ProgressBar bytesOnStderr(String label) {
        return on(System.err, label, 0, Unit.BYTES, 0);
    }

    /**
     * Whether stderr is an interactive terminal. Console.isTerminal asks about stdin and stdout, which a command
     * whose results are redirected ({@code eval ... > results.txt}) does not have while its stderr is still the
     * terminal; on Linux the file behind descriptor 2 tells, elsewhere the console's answer is the best there is.
     */
    public static boolean stderrIsTerminal() {
        java.nio.file.Path fd2 = java.nio.file.Path.of("/proc/self/fd/2");
        try {
            String target = java.nio.file.Files.readSymbolicLink(fd2).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            java.io.Console c = System.console();
            return c != null && c.isTerminal();
        }
    }

    /** Units done before this run (a resumed training): counted in the share, not in the rate. */
    public ProgressBar startingAt(long alreadyDone) {
        this.first = alreadyDone;
        this.done = alreadyDone;
        this.work = alreadyDone;
        return this;
    }

    /** Weighs the units: share and time left follow work done of totalWork instead of the count. */
    public ProgressBar weighted(long totalWork) {
        this.totalWork = totalWork;
        this.weightedWork = true;
        return this;
    }

    public void update(long done) { update(done, status); }

    public void update(long done, String status) { update(done, weightedWork ? work : done, status); }

    /** done units (of total) and work done (of the weighted total), with a status shown after the rate. */
    public void update(long done, long work, String status) {
        this.done = done;
        this.work = work;
        this.status = status == null ? "" : status;
        if (finished) return;
        long now = clock.getAsLong();
        if (terminal) {
            if (drawn && now - lastDraw < REDRAW_NANOS) return; // ten redraws a second are plenty
            draw(now);
        } else if (plainLines > 0 && work > first && work < totalWork && (!plainStarted || work >= nextPlainWork)) {
            err.println(plainLine(now));
            plainStarted = true;
            long k = totalWork <= 0 ? 1 : Math.floorDiv(work * plainLines, totalWork) + 1;
            nextPlainWork = ceilDiv(k * totalWork, plainLines);
        }
    }

    /** Another units done, weighing work (the same as units when the bar is not weighted). */
    public void advance(long units, long work, String status) {
        update(done + units, this.work + (weightedWork ? work : units), status);
    }

    /** GgufWriter's progress: bytes written of the file's size; the last tensor finishes the bar. */
    @Override
    public void written(long written, long fileSize) {
        if (fileSize <= 0) return;
        this.total = fileSize;
        this.totalWork = fileSize;
        update(written, written, status);
        if (written >= fileSize) finish();
    }

    /** A whole line (a run's result, a validation), above the bar on a terminal, a plain line elsewhere. */
    public void message(String line) {
        if (terminal && drawn && !finished) {
            err.print("\r\033[K" + line + "\n");
            draw(clock.getAsLong());
        } else {
            err.println(line);
        }
    }

    /** Text for another stream (a command's stdout table) printed above the bar, so the two do not share a line. */
    public void printAbove(PrintStream out, String text) {
        boolean redraw = terminal && drawn && !finished;
        if (redraw) {
            err.print("\r\033[K");
            err.flush();
        }
        out.print(text);
        out.flush();
        if (redraw) draw(clock.getAsLong());
    }

    /**
     * Takes the bar off its line until the next update, for code that writes to stderr on its own (the plugin
     * names the attention backend it chose when a session opens).
     */
    public void clear() {
        if (terminal && drawn && !finished) {
            err.print("\r\033[K");
            err.flush();
            drawn = false;
        }
    }

    /**
     * Ends the run: on a terminal the bar's last line, with the time it took; nothing in a log. Without a total
     * there is no last line to show, but a bar already drawn still has its line ended.
     */
    public void finish() {
        if (finished) return;
        finished = true;
        if (!terminal) return;
        if (total > 0) {
            err.print("\r" + finalLine(clock.getAsLong()) + "\033[K\n");
        } else if (drawn) {
            err.println();
        }
        err.flush();
        drawn = false;
    }

    /** After a failure: ends a drawn bar's line where it stopped, so the error starts on its own line. */
    @Override
    public void close() {
        if (finished) return;
        finished = true;
        if (drawn) err.println();
        drawn = false;
    }

    public double elapsedSeconds() { return (clock.getAsLong() - start) / 1e9; }

    private void draw(long now) {
        lastDraw = now;
        err.print("\r" + line(now) + "\033[K");
        err.flush();
        drawn = true;
    }

    /** The terminal line. */
    String line(long now) {
        double seconds = (now - start) / 1e9;
        double rate = seconds > 0 && done > first ? (done - first) / seconds : Double.NaN;
        double left = seconds > 0 && work > first && work < totalWork ? seconds * (totalWork - work) / (work - first) : Double.NaN;
        StringBuilder tail = new StringBuilder().append(unit.count(done, total));
        if (!Double.isNaN(rate)) tail.append(", ").append(unit.rate(rate));
        if (!Double.isNaN(left)) tail.append(", ").append(duration(left)).append(" left");
        return fit(share(), tail.toString(), status);
    }

    /** The last terminal line: everything done, how long it took and the mean rate. */
    String finalLine(long now) {
        double seconds = (now - start) / 1e9;
        String tail = unit.count(done, total) + " in " + duration(seconds)
                + (seconds > 0 && done > first ? ", " + unit.rate((done - first) / seconds) : "");
        return fit(share(), tail, "");
    }

    /** The plain line of a log. */
    String plainLine(long now) {
        double seconds = (now - start) / 1e9;
        double left = seconds > 0 && work > first ? seconds * (totalWork - work) / (work - first) : Double.NaN;
        return label + ": " + unit.count(done, total) + " (" + duration(seconds) + (Double.isNaN(left) ? "" : ", " + duration(left) + " left")
                + ")" + (status.isEmpty() ? "" : ", " + status);
    }

    private double share() {
        return totalWork <= 0 ? 0 : Math.min(1, Math.max(0, (double) work / totalWork));
    }

    /** label, bar, percent and tail, then the status; the bar narrows before anything is cut. */
    private String fit(double share, String tail, String status) {
        int max = columns - 1;
        String after = String.format(Locale.ROOT, "] %3.0f%%  %s%s", 100 * share, tail, status.isEmpty() ? "" : "  " + status);
        int width = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, max - label.length() - 2 - after.length()));
        int full = (int) Math.round(share * width);
        String s = label + " [" + "=".repeat(full) + " ".repeat(width - full) + after;
        return s.length() <= max ? s : s.substring(0, max);
    }

    private static long ceilDiv(long a, long b) { return b <= 0 ? a : -Math.floorDiv(-a, b); }

    /** 4.2 s, 42 s, 3m05s, 1h02m03s; ? when unknown. */
    public static String duration(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds)) return "?";
        if (seconds < 9.95) return String.format(Locale.ROOT, "%.1f s", seconds);
        long s = Math.round(seconds);
        if (s < 60) return s + " s";
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
