package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every refusal over HTTP, against stories260K (context 128), checked field by field: status, and the error body's
 * message, type, param and code, as OpenAI's clients read them; and the harmless fields clients send are accepted.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ErrorBodiesTest {
    static final int BODY_LIMIT = 64 * 1024;
    static TestServer server;

    @BeforeAll
    static void start() { server = TestServer.stories(TestServer.options().withMaxRequestBytes(BODY_LIMIT)); }

    @AfterAll
    static void stop() { if (server != null) server.close(); }

    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}]";

    /** The error of a response, after checking its status, content type and the four fields' presence. */
    static JsonNode error(HttpResponse<String> r, int status) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""));
        JsonNode body = TestServer.json(r);
        assertEquals(1, body.size(), "only 'error' at the top: " + body);
        JsonNode e = body.get("error");
        for (String f : new String[] {"message", "type", "param", "code"}) assertTrue(e.has(f), "error." + f + " missing: " + e);
        assertFalse(e.get("message").asText().isBlank());
        return e;
    }

    static void assertError(JsonNode e, String type, String param, String code, String inMessage) {
        assertEquals(type, e.get("type").asText(), e.toString());
        if (param == null) assertTrue(e.get("param").isNull(), e.toString());
        else assertEquals(param, e.get("param").asText(), e.toString());
        assertEquals(code, e.get("code").asText(), e.toString());
        assertTrue(e.get("message").asText().contains(inMessage), "'" + inMessage + "' not in " + e.get("message"));
    }

    static JsonNode chatError(String body, int status) throws Exception { return error(server.post("/v1/chat/completions", body), status); }

    @Test
    void badJson() throws Exception {
        assertError(chatError("{\"messages\": [", 400), "invalid_request_error", null, "invalid_json", "not valid JSON");
        assertError(chatError("", 400), "invalid_request_error", null, "invalid_json", "empty");
        assertError(chatError("[1,2]", 400), "invalid_request_error", null, "invalid_json", "must be a JSON object");
        assertError(chatError("{\"stream\":false,\"stream\":true," + MESSAGES + "}", 400), "invalid_request_error", null, "invalid_json", "stream");
        assertError(chatError("{" + MESSAGES + "} {}", 400), "invalid_request_error", null, "invalid_json", "not valid JSON");
    }

    @Test
    void unknownFieldsAreNamed() throws Exception {
        assertError(chatError("{" + MESSAGES + ",\"temperture\":0}", 400), "invalid_request_error", "temperture", "unknown_parameter", "'temperture'");
        assertError(chatError("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"mood\":1}]}", 400),
                "invalid_request_error", "messages[0].mood", "unknown_parameter", "messages[0].mood");
        assertError(chatError("{" + MESSAGES + ",\"stream\":true,\"stream_options\":{\"usage\":true}}", 400),
                "invalid_request_error", "stream_options.usage", "unknown_parameter", "stream_options.usage");
        assertError(error(server.post("/v1/completions", "{\"prompt\":\"x\",\"messages\":[]}"), 400),
                "invalid_request_error", "messages", "unknown_parameter", "'messages'");
    }

    @Test
    void invalidValuesAndTypes() throws Exception {
        assertError(chatError("{\"messages\":[]}", 400), "invalid_request_error", "messages", "invalid_value", "at least one");
        assertError(chatError("{\"model\":\"m\"}", 400), "invalid_request_error", "messages", "missing_required_parameter", "messages");
        assertError(chatError("{" + MESSAGES + ",\"temperature\":\"hot\"}", 400), "invalid_request_error", "temperature", "invalid_type", "a number");
        assertError(chatError("{" + MESSAGES + ",\"temperature\":2.5}", 400), "invalid_request_error", "temperature", "invalid_value", "from 0 to 2");
        assertError(chatError("{" + MESSAGES + ",\"max_tokens\":0}", 400), "invalid_request_error", "max_tokens", "invalid_value", "from 1");
        assertError(chatError("{" + MESSAGES + ",\"max_tokens\":1.5}", 400), "invalid_request_error", "max_tokens", "invalid_type", "an integer");
        assertError(chatError("{" + MESSAGES + ",\"stop\":\"\"}", 400), "invalid_request_error", "stop", "invalid_value", "empty");
        assertError(chatError("{" + MESSAGES + ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400), "invalid_request_error", "stop", "invalid_value", "at most 4");
        assertError(chatError("{\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}", 400), "invalid_request_error", "messages[0].role", "invalid_value", "robot");
        assertError(chatError("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", 400),
                "invalid_request_error", "messages[0].content[0].type", "unsupported_value", "text");
        assertError(chatError("{" + MESSAGES + ",\"stream_options\":{\"include_usage\":true}}", 400),
                "invalid_request_error", "stream_options", "invalid_value", "only allowed when stream is true");
        assertError(error(server.post("/v1/completions", "{\"prompt\":\"x\",\"stream\":false,\"stream_options\":{}}"), 400),
                "invalid_request_error", "stream_options", "invalid_value", "stream is true");
        assertError(chatError("{" + MESSAGES + ",\"frequency_penalty\":0.5}", 400), "invalid_request_error", "frequency_penalty", "unsupported_value", "only 0");
        assertError(chatError("{" + MESSAGES + ",\"response_format\":{\"type\":\"json_object\"}}", 400),
                "invalid_request_error", "response_format", "unsupported_value", "text");
    }

    @Test
    void onlyOneChoice() throws Exception {
        assertError(chatError("{" + MESSAGES + ",\"n\":2}", 400), "invalid_request_error", "n", "unsupported_value", "n must be 1");
        assertError(error(server.post("/v1/completions", "{\"prompt\":\"x\",\"n\":3}"), 400), "invalid_request_error", "n", "unsupported_value", "got 3");
    }

    @Test
    void aPromptLongerThanTheContext() throws Exception {
        String longText = "Once upon a time ".repeat(60);
        assertError(chatError("{\"messages\":[{\"role\":\"user\",\"content\":\"" + longText + "\"}]}", 400),
                "invalid_request_error", "messages", "context_length_exceeded", "context is 128 tokens");
        assertError(error(server.post("/v1/completions", "{\"prompt\":\"" + longText + "\"}"), 400),
                "invalid_request_error", "prompt", "context_length_exceeded", "shorten the prompt");
        // What fits is answered; a max_tokens beyond the context is cut there, with finish_reason "length".
        HttpResponse<String> fits = server.post("/v1/completions", "{\"prompt\":\"" + "Once upon a time ".repeat(25) + "\",\"max_tokens\":1000,\"temperature\":0}");
        assertEquals(200, fits.statusCode(), fits.body());
        JsonNode usage = TestServer.json(fits).get("usage");
        assertTrue(usage.get("total_tokens").asInt() <= 129, usage.toString());
    }

    @Test
    void aBodyOverTheLimit() throws Exception {
        String big = "{\"prompt\":\"" + "a".repeat(BODY_LIMIT) + "\"}";
        JsonNode e = error(server.post("/v1/completions", big), 413);
        assertError(e, "invalid_request_error", null, "request_too_large", Integer.toString(BODY_LIMIT));
        // The connection is usable again after the refused body.
        assertEquals(200, server.get("/health").statusCode());
    }

    @Test
    void unknownRouteAndWrongMethod() throws Exception {
        assertError(error(server.post("/v1/embeddings", "{}"), 404), "invalid_request_error", null, "not_found", "POST /v1/embeddings");
        assertError(error(server.get("/v1/models/gpt-4o"), 404), "invalid_request_error", "model", "model_not_found", "gpt-4o");
        HttpResponse<String> get = server.get("/v1/chat/completions");
        assertError(error(get, 405), "invalid_request_error", null, "method_not_allowed", "use POST");
        assertEquals("POST", get.headers().firstValue("Allow").orElse(""));
        HttpResponse<String> delete = server.send(HttpRequest.newBuilder(URI.create(server.url() + "/health")).DELETE()
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertError(error(delete, 405), "invalid_request_error", null, "method_not_allowed", "use GET");
    }

    @Test
    void theHarmlessFieldsClientsSendAreAccepted() throws Exception {
        String body = "{\"model\":\"gpt-4o-mini\"," + MESSAGES + ",\"max_tokens\":3,\"user\":\"u1\",\"frequency_penalty\":0,"
                + "\"presence_penalty\":0.0,\"logprobs\":false,\"top_logprobs\":null,\"response_format\":{\"type\":\"text\"},\"n\":1,"
                + "\"logit_bias\":{},\"store\":false,\"metadata\":{\"k\":\"v\"},\"parallel_tool_calls\":true,\"tools\":[],\"seed\":1,"
                + "\"top_p\":0.9,\"temperature\":0.7,\"stop\":null,\"stream\":false}";
        HttpResponse<String> r = server.post("/v1/chat/completions", body);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode ok = TestServer.json(r);
        assertEquals("stories260K", ok.get("model").asText(), "the served model answers, whatever model was asked for");
        assertEquals(3, ok.at("/usage/completion_tokens").asInt());
        // Content as OpenAI's list of text parts, and the developer role.
        r = server.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Once upon\"}]},"
                + "{\"role\":\"user\",\"content\":\"a time\",\"name\":\"kid\"}],\"max_tokens\":2}");
        assertEquals(200, r.statusCode(), r.body());
    }

    @Test
    void theAssistantMessageOfAResponseGoesBackAsHistory() throws Exception {
        HttpResponse<String> first = server.post("/v1/chat/completions", "{" + MESSAGES + ",\"max_tokens\":3}");
        assertEquals(200, first.statusCode(), first.body());
        JsonNode answer = TestServer.json(first).at("/choices/0/message");
        assertTrue(answer.has("refusal"), "the message as OpenAI's clients get it, refusal included: " + answer);
        com.fasterxml.jackson.databind.node.ObjectNode next = RequestParser.JSON.createObjectNode();
        var messages = next.putArray("messages");
        messages.addObject().put("role", "user").put("content", "Once upon a time");
        messages.add(answer);
        messages.addObject().put("role", "user").put("content", "And then?");
        // What the openai clients send for fields left unset, and the empty fields of a message that called no tool.
        ((com.fasterxml.jackson.databind.node.ObjectNode) messages.get(1)).putNull("tool_calls").putArray("annotations");
        next.put("max_tokens", 2).putNull("reasoning_effort");
        HttpResponse<String> second = server.post("/v1/chat/completions", RequestParser.JSON.writeValueAsString(next));
        assertEquals(200, second.statusCode(), second.body());
        assertTrue(TestServer.json(second).at("/usage/prompt_tokens").asInt() > TestServer.json(first).at("/usage/total_tokens").asInt(),
                "the history is in the prompt: " + second.body());

        assertError(chatError("{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[{\"id\":\"c1\"}]}]}", 400),
                "invalid_request_error", "messages[0].tool_calls", "unsupported_value", "calls no tools");
        assertError(chatError("{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"refusal\":1}]}", 400),
                "invalid_request_error", "messages[0].refusal", "invalid_type", "a string");
    }

    @Test
    void modelsAndHealth() throws Exception {
        JsonNode models = TestServer.json(server.get("/v1/models"));
        assertEquals("list", models.get("object").asText());
        assertEquals("stories260K", models.at("/data/0/id").asText());
        assertEquals("model", models.at("/data/0/object").asText());
        assertEquals("stories260K", TestServer.json(server.get("/v1/models/stories260K")).get("id").asText());
        JsonNode health = TestServer.json(server.get("/health?verbose=1"));
        assertEquals("ok", health.get("status").asText());
        assertEquals(128, health.get("context").asInt());
    }
}
