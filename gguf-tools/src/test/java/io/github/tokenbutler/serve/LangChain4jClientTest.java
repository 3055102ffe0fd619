package io.github.tokenbutler.serve;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * LangChain4j's OpenAI module, as an application would configure it, against `serve` with stories260K: the text
 * it gets at temperature 0 is the text the Java API generates for the same messages (a second, independent
 * Generator), blocking and streamed, with the usage counts and finish reasons mapped to LangChain4j's.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LangChain4jClientTest {
    static final int MAX_TOKENS = 20;
    static TestServer server;
    static Generator reference;

    @BeforeAll
    static void start() {
        server = TestServer.stories(TestServer.options());
        reference = TestServer.openStories();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (reference != null) reference.close();
    }

    private static OpenAiChatModel.OpenAiChatModelBuilder chatModel() {
        return OpenAiChatModel.builder().baseUrl(server.url() + "/v1").apiKey("unused").modelName(server.model.id())
                .temperature(0.0).maxTokens(MAX_TOKENS).timeout(Duration.ofSeconds(30)).maxRetries(0);
    }

    private static Completion expected(List<ChatMessage> messages, int maxTokens, String... stop) {
        return reference.chat(messages, GenerationParams.greedy(maxTokens).withStop(stop), s -> {});
    }

    @Test
    void blockingChatGivesTheJavaApisText() {
        ChatModel model = chatModel().build();
        ChatResponse r = model.chat(UserMessage.from("Once upon a time"));
        Completion want = expected(List.of(new ChatMessage("user", "Once upon a time")), MAX_TOKENS);
        assertEquals(want.text(), r.aiMessage().text());
        assertFalse(want.text().isBlank());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(want.promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(MAX_TOKENS, r.tokenUsage().outputTokenCount());
        assertEquals(server.model.id(), r.modelName());
    }

    @Test
    void systemAndUserMessagesWithAStopStringAndASeed() {
        ChatModel model = chatModel().maxTokens(null).maxCompletionTokens(60).stop(List.of("Lily")).seed(42).build();
        ChatResponse r = model.chat(SystemMessage.from("A story for children."), UserMessage.from("Once upon a time"));
        Completion want = expected(List.of(new ChatMessage("system", "A story for children."), new ChatMessage("user", "Once upon a time")), 60, "Lily");
        assertEquals(want.text(), r.aiMessage().text());
        assertEquals("stop", want.finish());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void streamingChatGivesTheSameTextPieceByPiece() throws Exception {
        StreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(server.url() + "/v1").apiKey("unused")
                .modelName(server.model.id()).temperature(0.0).maxTokens(MAX_TOKENS).timeout(Duration.ofSeconds(30)).build();
        StringBuilder pieces = new StringBuilder();
        int[] count = {0};
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat("Once upon a time", new StreamingChatResponseHandler() {
            @Override public void onPartialResponse(String piece) {
                pieces.append(piece);
                count[0]++;
            }

            @Override public void onCompleteResponse(ChatResponse response) { done.complete(response); }

            @Override public void onError(Throwable error) { done.completeExceptionally(error); }
        });
        ChatResponse r = done.get(30, TimeUnit.SECONDS);
        Completion want = expected(List.of(new ChatMessage("user", "Once upon a time")), MAX_TOKENS);
        assertEquals(want.text(), r.aiMessage().text());
        assertEquals(want.text(), pieces.toString(), "the pieces add up to the text");
        assertTrue(count[0] > 1, "streamed in more than one piece: " + count[0]);
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertNotNull(r.tokenUsage(), "LangChain4j asks for usage in the stream (stream_options.include_usage)");
        assertEquals(want.promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(MAX_TOKENS, r.tokenUsage().outputTokenCount());
    }

    @Test
    void theLegacyCompletionsEndpointThroughLanguageModel() {
        OpenAiLanguageModel model = OpenAiLanguageModel.builder().baseUrl(server.url() + "/v1").apiKey("unused")
                .modelName(server.model.id()).temperature(0.0).timeout(Duration.ofSeconds(30)).maxRetries(0).build();
        Response<String> r = model.generate("Once upon a time");
        // No max_tokens from LanguageModel: OpenAI's default for completions, 16, applies.
        Completion want = reference.generate("Once upon a time", GenerationParams.greedy(RequestParser.COMPLETION_DEFAULT_MAX_TOKENS), s -> {});
        assertEquals(want.text(), r.content());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }
}
