package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.SharedData;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A server on a free loopback port for a test class, with the model it serves and what it logged; plus plain
 * HTTP calls through the JDK's client (for the status codes and headers that OpenAI clients hide).
 */
final class TestServer implements AutoCloseable {
    final TextModel model;
    final OpenAiServer server;
    final List<String> log = new CopyOnWriteArrayList<>();
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final int ANSWER_DEADLINE_SECONDS = 60;

    private TestServer(TextModel model, OpenAiServer.Options options) {
        this.model = model;
        this.server = OpenAiServer.start(model, options, log::add);
    }

    /** stories260K (dense, its own context of 128 tokens) from ../shared; skipped outside CI when it is missing. */
    static Path storiesModel() { return SharedData.require("models/stories260K/stories260K.gguf"); }

    static Generator openStories() { return Generator.open(storiesModel(), "dense", Map.of(), LoadOptions.defaults()); }

    static TestServer stories(OpenAiServer.Options options) {
        Path file = storiesModel();
        return new TestServer(TextModel.of(Generator.open(file, "dense", Map.of(), LoadOptions.defaults()), file), options);
    }

    static TestServer of(TextModel model, OpenAiServer.Options options) { return new TestServer(model, options); }

    /** Loopback, a free port, and the other limits as `serve` has them. */
    static OpenAiServer.Options options() { return OpenAiServer.Options.defaults().withPort(0); }

    String url() { return server.url(); }

    int port() { return server.address().getPort(); }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The request with a deadline on the whole answer, body included: the request's own timeout ends when the headers
     * come, so a server that stalls mid-body (a stream that never ends) would hang a blocking send for ever.
     */
    <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> body) throws IOException, InterruptedException {
        CompletableFuture<HttpResponse<T>> answer = http.sendAsync(request, body);
        try {
            return answer.get(ANSWER_DEADLINE_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            answer.cancel(true);
            throw new AssertionError("no whole answer to " + request.method() + " " + request.uri() + " within " + ANSWER_DEADLINE_SECONDS + " s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            throw new IllegalStateException(e.getCause());
        }
    }

    static JsonNode json(HttpResponse<String> r) throws IOException { return RequestParser.JSON.readTree(r.body()); }

    @Override public void close() {
        server.close();
        model.close();
        http.close();
    }
}
