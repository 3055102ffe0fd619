package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.github.tokenbutler.tools.CliErrorsTest.assertNoStackTrace;
import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * `serve` on the command line: bad input is one "error:" line and exit 2 (as every command), and a running server
 * stops cleanly on SIGTERM (in a child JVM, which the signal ends).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ServeCommandTest {
    static String model() { return SharedData.require("models/stories260K/stories260K.gguf").toString(); }

    @Test
    void withoutAModel() {
        assertUserError(run("serve", "--port", "8080"), "serve: option --model is required");
    }

    @Test
    void aModelThatIsNotThere() {
        assertUserError(run("serve", "--model", "no-such-model.gguf"), "no-such-model.gguf");
    }

    @Test
    void aPortOutOfRange() {
        assertUserError(run("serve", "--model", model(), "--port", "70000"), "--port", "from 0 to 65535", "70000");
        assertUserError(run("serve", "--model", model(), "--port", "http"), "--port", "integer", "http");
    }

    @Test
    void aQueueOfZero() {
        assertUserError(run("serve", "--model", model(), "--queue", "0"), "--queue", "from 1 to 10000", "0");
    }

    @Test
    void anUnknownOption() {
        assertUserError(run("serve", "--model", model(), "--prot", "80"), "unknown option --prot");
    }

    @Test
    void aPortInUse() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertUserError(run("serve", "--model", model(), "--port", Integer.toString(taken.getLocalPort())),
                    "cannot listen on 127.0.0.1:" + taken.getLocalPort(), "in use", "--port");
        }
    }

    @Test
    void sigtermStopsTheServerCleanly() throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Process p = new ProcessBuilder(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "io.github.tokenbutler.tools.Main", "serve", "--model", model(), "--port", "0")
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        // Read on a thread of its own: a child that hangs without a line must fail the test at a deadline, not block it.
        List<String> err = new CopyOnWriteArrayList<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) err.add(line);
            } catch (IOException e) {
                err.add("(stderr unreadable: " + e.getMessage() + ")");
            }
        });
        try {
            Pattern listening = Pattern.compile("listening on (http://127\\.0\\.0\\.1:\\d+)/v1");
            String url = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (url == null && p.isAlive() && System.nanoTime() < deadline) {
                for (String line : err) {
                    Matcher m = listening.matcher(line);
                    if (m.find()) url = m.group(1);
                }
                if (url == null) Thread.sleep(20);
            }
            assertNotNull(url, "no 'listening on' line within 60 s: " + err);
            try (HttpClient http = HttpClient.newHttpClient()) {
                HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(url + "/health")).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, health.statusCode());
            }
            p.toHandle().destroy(); // SIGTERM (Process.destroy would also close the pipe this test still reads)
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "serve did not stop within 20 s of SIGTERM");
            reader.join(Duration.ofSeconds(10)); // the rest of stderr, which ends with the process
        } finally {
            p.destroyForcibly();
        }
        String all = String.join("\n", err);
        assertTrue(all.contains("serve: shutting down") && all.contains("serve: stopped"), all);
        assertEquals(1, err.stream().filter(l -> l.contains("no chat template")).count(), "said once: " + all);
        assertTrue(all.contains("one generation at a time"), all);
        assertNoStackTrace(all);
        assertEquals(143, p.exitValue(), "128 + SIGTERM, as the JVM exits on it");
    }
}
