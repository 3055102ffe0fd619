package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The queue in front of the model and what a client's leaving does, on a {@link ScriptedModel} whose speed the
 * test sets (no shared data needed): a full queue answers 503 with Retry-After; a closed connection cancels its
 * generation (streamed or not) or, while it waits, keeps it from running; pipelined requests are answered in
 * order; closing the server ends the running stream and refuses the waiting; a prompt of no tokens (which only a
 * model like this one, without a start token, gives) is refused before it queues.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QueueAndCancelTest {
    static final String COMPLETION = "{\"prompt\":\"hello\",\"max_tokens\":%d%s}";

    static String completion(int maxTokens, boolean stream) {
        return String.format(COMPLETION, maxTokens, stream ? ",\"stream\":true" : "");
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("not within 10 s: " + what);
            Thread.sleep(5);
        }
    }

    static CompletableFuture<HttpResponse<String>> postAsync(TestServer s, String body) {
        return s.http.sendAsync(HttpRequest.newBuilder(URI.create(s.url() + "/v1/completions")).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aFullQueueAnswers503WithRetryAfterAndTheOthersStillRun() throws Exception {
        ScriptedModel model = new ScriptedModel(1);
        try (TestServer s = TestServer.of(model, TestServer.options().withQueue(1))) {
            model.closeGate();
            var running = postAsync(s, completion(3, false));
            await("the first request on the model", () -> model.started.get() == 1);
            var waiting = postAsync(s, completion(3, false));
            await("the second request waiting", () -> s.server.queue.waitingCount() == 1);
            JsonNode health = TestServer.json(s.get("/health"));
            assertTrue(health.get("generating").asBoolean());
            assertEquals(1, health.get("waiting").asInt());

            HttpResponse<String> refused = s.post("/v1/completions", completion(3, false));
            assertEquals(503, refused.statusCode());
            int retryAfter = Integer.parseInt(refused.headers().firstValue("Retry-After").orElseThrow());
            assertTrue(retryAfter >= 1 && retryAfter <= 60, "Retry-After " + retryAfter);
            JsonNode error = TestServer.json(refused).get("error");
            assertEquals("server_error", error.get("type").asText());
            assertEquals("queue_full", error.get("code").asText());
            assertTrue(error.get("param").isNull());
            assertTrue(error.get("message").asText().contains("busy"), error.toString());

            model.openGate();
            assertEquals(200, running.get(10, TimeUnit.SECONDS).statusCode());
            assertEquals(200, waiting.get(10, TimeUnit.SECONDS).statusCode());
            assertEquals("w0 w1 w2 ", TestServer.json(waiting.get()).at("/choices/0/text").asText());
            assertEquals(0, TestServer.json(s.get("/health")).get("waiting").asInt());
        }
    }

    @Test
    void aClientThatHangsUpOnANonStreamedAnswerCancelsItsGeneration() throws Exception {
        ScriptedModel model = new ScriptedModel(5);
        try (TestServer s = TestServer.of(model, TestServer.options())) {
            try (RawHttp c = new RawHttp(s.port())) {
                c.send(RawHttp.post("/v1/completions", completion(5000, false)));
                await("generation started", () -> model.started.get() == 1);
                Thread.sleep(30);
            }
            // No byte of the answer was written: only reading the connection shows that it closed.
            await("generation cancelled", () -> model.cancelled.get() == 1);
            assertTrue(model.tokensBeforeCancel < 1000, "cancelled after " + model.tokensBeforeCancel + " of 5000 tokens");
            await("the cancel logged", () -> s.log.stream().anyMatch(l -> l.contains("client went away")));
            assertEquals(200, s.post("/v1/completions", completion(2, false)).statusCode(), "the model is free again");
        }
    }

    @Test
    void aClientThatHangsUpMidStreamCancelsItsGeneration() throws Exception {
        ScriptedModel model = new ScriptedModel(5);
        try (TestServer s = TestServer.of(model, TestServer.options())) {
            try (RawHttp c = new RawHttp(s.port())) {
                String head = c.send(RawHttp.post("/v1/completions", completion(5000, true))).readUntil("data: ", 3);
                assertTrue(head.startsWith("HTTP/1.1 200"), head);
                assertTrue(head.toLowerCase().contains("content-type: text/event-stream"), head);
            }
            await("generation cancelled", () -> model.cancelled.get() == 1);
            assertTrue(model.tokensBeforeCancel < 1000, "cancelled after " + model.tokensBeforeCancel + " of 5000 tokens");
        }
    }

    @Test
    void aRequestWhoseClientLeftWhileItWaitedNeverRuns() throws Exception {
        ScriptedModel model = new ScriptedModel(1);
        try (TestServer s = TestServer.of(model, TestServer.options())) {
            model.closeGate();
            var running = postAsync(s, completion(2, false));
            await("the first request on the model", () -> model.started.get() == 1);
            try (RawHttp c = new RawHttp(s.port())) {
                c.send(RawHttp.post("/v1/completions", completion(2, false)));
                await("the second request waiting", () -> s.server.queue.waitingCount() == 1);
            }
            // Seen by the server when the request leaves the line (before the model is free, so only the close did it).
            await("the abandoned request out of the queue", () -> s.server.queue.waitingCount() == 0);
            assertEquals(1, model.started.get());
            model.openGate();
            assertEquals(200, running.get(10, TimeUnit.SECONDS).statusCode());
            assertEquals(200, s.post("/v1/completions", completion(2, false)).statusCode());
            assertEquals(2, model.started.get(), "the abandoned request was skipped");
        }
    }

    @Test
    void anEmptyPromptIs400NotAFailedGeneration() throws Exception {
        ScriptedModel model = new ScriptedModel(1); // one token per character, no start token: "" is 0 tokens
        try (TestServer s = TestServer.of(model, TestServer.options())) {
            JsonNode e = ErrorBodiesTest.error(s.post("/v1/completions", "{\"prompt\":\"\"}"), 400);
            ErrorBodiesTest.assertError(e, "invalid_request_error", "prompt", "invalid_value", "no tokens");
            e = ErrorBodiesTest.error(s.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}"), 400);
            ErrorBodiesTest.assertError(e, "invalid_request_error", "messages", "invalid_value", "no tokens");
            assertEquals(0, model.started.get(), "refused before it queued");
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInTheOrderTheyCame() throws Exception {
        ScriptedModel model = new ScriptedModel(10);
        try (TestServer s = TestServer.of(model, TestServer.options()); RawHttp c = new RawHttp(s.port())) {
            // The slow generation first, then /health, which alone would be answered at once.
            String both = c.send(RawHttp.post("/v1/completions", completion(5, false)), RawHttp.get("/health")).readUntil("HTTP/1.1 200", 2);
            c.readUntil("\"queue_capacity\"", 1);
            String all = c.text();
            assertTrue(all.indexOf("text_completion") < all.indexOf("\"status\""), "completion first: " + both);
        }
    }

    @Test
    void closingTheServerEndsTheRunningStreamAndRefusesTheWaiting() throws Exception {
        ScriptedModel model = new ScriptedModel(5);
        TestServer s = TestServer.of(model, TestServer.options());
        try (RawHttp stream = new RawHttp(s.port())) {
            stream.send(RawHttp.post("/v1/completions", completion(5000, true))).readUntil("data: ", 2);
            var waiting = postAsync(s, completion(2, false));
            await("the second request waiting", () -> s.server.queue.waitingCount() == 1);
            long t0 = System.nanoTime();
            s.close();
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "close took " + (System.nanoTime() - t0) / 1e6 + " ms");
            HttpResponse<String> refused = waiting.get(10, TimeUnit.SECONDS);
            assertEquals(503, refused.statusCode());
            assertEquals("shutting_down", TestServer.json(refused).at("/error/code").asText());
            String end = stream.readUntil("\"shutting_down\"", 1);
            assertFalse(end.contains("[DONE]"), "a stream cut short ends with an error event, not [DONE]");
            assertEquals(1, model.cancelled.get());
        }
    }
}
