package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.ChatMessage;

import java.util.List;

/**
 * One validated request for text: either chat messages (/v1/chat/completions) or a prompt (/v1/completions),
 * with the sampling the caller asked for. Built only by {@link RequestParser}, so every value here is in range.
 *
 * @param messages     the chat messages, or null for a completion
 * @param prompt       the prompt, or null for chat
 * @param maxTokens    the most tokens to generate; the context may end the text first
 * @param seed         null: a new seed per request, as OpenAI does when none is given
 * @param includeUsage stream_options.include_usage: a last chunk carrying the token counts
 */
public record GenerationRequest(List<ChatMessage> messages, String prompt, int maxTokens, float temperature, float topP, Long seed,
                         List<String> stop, boolean stream, boolean includeUsage) {
    boolean chat() { return messages != null; }

    /** The field a context error names: where the too-long text came from. */
    String textParam() { return chat() ? "messages" : "prompt"; }
}
