package io.github.tokenbutler.tools;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ProgressBarTest {
    @Test
    void theLineShowsTheShareTheBytesTheRateAndTheTimeLeft() {
        ProgressBar bar = new ProgressBar("synth", new PrintStream(new ByteArrayOutputStream()), true);
        assertEquals("synth [===============               ]  50%  500.0 of 1000.0 MB, 100 MB/s, 5 s left",
                bar.line(500_000_000L, 1_000_000_000L, 5.0));
    }

    @Test
    void aTerminalGetsOneRewrittenLineAndALogGetsNothing() {
        ByteArrayOutputStream tty = new ByteArrayOutputStream(), log = new ByteArrayOutputStream();
        ProgressBar t = new ProgressBar("quantize", new PrintStream(tty, true, StandardCharsets.UTF_8), true);
        ProgressBar l = new ProgressBar("quantize", new PrintStream(log, true, StandardCharsets.UTF_8), false);
        for (ProgressBar b : new ProgressBar[] {t, l}) {
            b.written(10, 100);
            b.written(100, 100);
            b.finish();
        }
        String shown = tty.toString(StandardCharsets.UTF_8);
        assertTrue(shown.startsWith("\rquantize [") && shown.endsWith("\n"), shown);
        assertEquals(1, shown.chars().filter(c -> c == '\n').count(), "one line, rewritten in place (carriage returns)");
        assertEquals("", log.toString(StandardCharsets.UTF_8));
    }
}
