package io.github.tokenbutler.progress;

import java.io.File;
import java.util.concurrent.TimeUnit;

/** The terminal's width in columns: $COLUMNS when the shell exports it, else what stty says, else 80. */
final class TerminalWidth {
    private TerminalWidth() {}

    static int columns() {
        Integer fromEnv = parse(System.getenv("COLUMNS"));
        if (fromEnv != null) return fromEnv;
        // The JDK has no call for it; stty reads the size of the terminal on its standard input.
        try {
            Process p = new ProcessBuilder("stty", "size").redirectInput(ProcessBuilder.Redirect.from(new File("/dev/tty")))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            if (p.waitFor(1, TimeUnit.SECONDS) && p.exitValue() == 0) {
                String[] rowsColumns = new String(p.getInputStream().readAllBytes()).trim().split("\\s+");
                if (rowsColumns.length == 2) {
                    Integer c = parse(rowsColumns[1]);
                    if (c != null) return c;
                }
            } else {
                p.destroyForcibly();
            }
        } catch (Exception e) {
            // no stty or no /dev/tty: the default below
        }
        return 80;
    }

    private static Integer parse(String s) {
        if (s == null) return null;
        try {
            int c = Integer.parseInt(s.trim());
            return c > 0 ? c : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
