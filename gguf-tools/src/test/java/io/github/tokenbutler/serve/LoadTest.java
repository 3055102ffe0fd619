package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A bounded load on stories260K: 8 clients send 20 requests each at once (chat and completions, streamed and
 * whole, a quarter hanging up mid-stream) to a server whose queue holds 3; a refused client
 * pauses 50 ms before its next request. Every request must be answered 200
 * or refused 503 with Retry-After, none may hang (30 s per request, 120 s in all), and afterwards the server is
 * healthy, idle and answers. Prints the counts.
 */
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LoadTest {
    static final int CLIENTS = 8, REQUESTS_PER_CLIENT = 20, QUEUE = 3, BACKOFF_MILLIS = 50;

    enum Outcome { ANSWERED, STREAMED, REFUSED, HUNG_UP }

    @Test
    void everyRequestIsAnsweredOrRefusedAndTheServerStaysHealthy() throws Exception {
        try (TestServer s = TestServer.stories(TestServer.options().withQueue(QUEUE))) {
            AtomicInteger[] counts = new AtomicInteger[Outcome.values().length];
            for (int i = 0; i < counts.length; i++) counts[i] = new AtomicInteger();
            long t0 = System.nanoTime();
            List<Future<?>> clients = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(CLIENTS)) {
                for (int c = 0; c < CLIENTS; c++) {
                    int client = c;
                    clients.add(pool.submit(() -> {
                        for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
                            Outcome o = one(s, client, i);
                            counts[o.ordinal()].incrementAndGet();
                            // A short pause, not the Retry-After's seconds: the queue should fill and drain many times in a few seconds.
                            if (o == Outcome.REFUSED) Thread.sleep(BACKOFF_MILLIS);
                        }
                        return null;
                    }));
                }
                pool.shutdown();
                boolean finished = pool.awaitTermination(120, TimeUnit.SECONDS);
                // Else the pool's close() would wait for the hung clients without end.
                if (!finished) pool.shutdownNow();
                assertTrue(finished, "the clients did not finish in 120 s");
            }
            for (Future<?> f : clients) f.get(); // a client's failed assertion fails the test here
            double seconds = (System.nanoTime() - t0) / 1e9;

            int total = 0;
            for (AtomicInteger n : counts) total += n.get();
            assertEquals(CLIENTS * REQUESTS_PER_CLIENT, total);
            assertTrue(counts[Outcome.ANSWERED.ordinal()].get() + counts[Outcome.STREAMED.ordinal()].get() > 0, "nothing was answered");
            QueueAndCancelTest.await("the model idle, nothing waiting", () -> !s.server.queue.busy() && s.server.queue.waitingCount() == 0);
            JsonNode health = TestServer.json(s.get("/health"));
            assertEquals("ok", health.get("status").asText());
            HttpResponse<String> after = s.post("/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}");
            assertEquals(200, after.statusCode(), after.body());
            long cancelledByServer = s.log.stream().filter(l -> l.contains("client went away")).count();
            System.out.printf(Locale.ROOT, "load test: %d clients x %d requests, queue %d, %.1f s: %d answered whole, %d streamed to [DONE],"
                            + " %d refused 503 (queue full), %d hung up mid-stream (%d generations cancelled by the server); healthy after%n",
                    CLIENTS, REQUESTS_PER_CLIENT, QUEUE, seconds, counts[0].get(), counts[1].get(), counts[2].get(), counts[3].get(), cancelledByServer);
        }
    }

    /** One request of one client; the kind rotates so that every client sends every kind. */
    private static Outcome one(TestServer s, int client, int i) throws Exception {
        return switch ((client + i) % 4) {
            case 0 -> whole(s, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":8,\"temperature\":0}");
            case 1 -> streamed(s, "{\"messages\":[{\"role\":\"user\",\"content\":\"Lily and Ben\"}],\"max_tokens\":8,\"stream\":true,"
                    + "\"stream_options\":{\"include_usage\":true}}");
            case 2 -> hangUp(s, "{\"prompt\":\"Once upon a time\",\"max_tokens\":100,\"stream\":true}");
            default -> whole(s, "/v1/completions", "{\"prompt\":\"The cat\",\"max_tokens\":8,\"temperature\":0.8,\"seed\":" + i + "}");
        };
    }

    private static Outcome whole(TestServer s, String path, String body) throws Exception {
        HttpResponse<String> r = s.post(path, body);
        if (r.statusCode() == 503) return refused(r.statusCode(), r.headers().firstValue("Retry-After").orElse(null), r.body());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(8, TestServer.json(r).at("/usage/completion_tokens").asInt(), r.body());
        return Outcome.ANSWERED;
    }

    private static Outcome streamed(TestServer s, String body) throws Exception {
        // The whole stream as one string, read under TestServer's deadline: the request's timeout ends at the headers.
        HttpResponse<String> r = s.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/chat/completions"))
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        List<String> lines = r.body().lines().toList();
        if (r.statusCode() == 503) return refused(503, r.headers().firstValue("Retry-After").orElse(null), String.join("\n", lines));
        assertEquals(200, r.statusCode(), String.join("\n", lines));
        List<String> data = lines.stream().filter(l -> l.startsWith("data: ")).toList();
        assertEquals("data: [DONE]", data.getLast());
        assertTrue(data.get(data.size() - 2).contains("\"completion_tokens\":8"), "the usage chunk before [DONE]: " + data);
        return Outcome.STREAMED;
    }

    /** Starts a stream and hangs up after its first chunk (or takes the 503). */
    private static Outcome hangUp(TestServer s, String body) throws Exception {
        try (RawHttp c = new RawHttp(s.port())) {
            c.send(RawHttp.post("/v1/completions", body));
            String head = c.readUntil("\r\n\r\n", 1);
            if (head.startsWith("HTTP/1.1 503")) {
                String all = c.readUntil("}}", 1);
                String retry = all.lines().filter(l -> l.toLowerCase(Locale.ROOT).startsWith("retry-after:")).map(l -> l.substring(12).trim())
                        .findFirst().orElse(null);
                return refused(503, retry, all.substring(all.indexOf("\r\n\r\n") + 4));
            }
            assertTrue(head.startsWith("HTTP/1.1 200"), head);
            c.readUntil("data: ", 1);
            return Outcome.HUNG_UP;
        }
    }

    private static Outcome refused(int status, String retryAfter, String body) throws Exception {
        assertEquals(503, status);
        assertNotNull(retryAfter, "a 503 without Retry-After: " + body);
        assertTrue(Integer.parseInt(retryAfter) >= 1, retryAfter);
        assertEquals("queue_full", RequestParser.JSON.readTree(body).at("/error/code").asText(), body);
        return Outcome.REFUSED;
    }
}
