package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.concurrent.ThreadLocalRandom;

/**
 * The response bodies of one request, in OpenAI's shapes: chat.completion and chat.completion.chunk for chat,
 * text_completion (whole and in chunks) for completions. One instance per request: every body and chunk of a
 * request carries the same id and created time, as OpenAI's do.
 */
final class Responses {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final boolean chat;
    private final String id, model;
    private final long created = System.currentTimeMillis() / 1000;
    /** With stream_options.include_usage every chunk has "usage": null but the last, which holds the counts. */
    private final boolean usageInChunks;

    Responses(boolean chat, String model, boolean usageInChunks) {
        this.chat = chat;
        this.model = model;
        this.usageInChunks = usageInChunks;
        this.id = (chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    }

    /** The whole answer of a request that did not stream. */
    ObjectNode complete(String text, String finish, int promptTokens, int completionTokens) {
        ObjectNode root = head(chat ? "chat.completion" : "text_completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", text);
            message.putNull("refusal");
        } else {
            choice.put("text", text);
        }
        choice.putNull("logprobs");
        choice.put("finish_reason", finish);
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    /** The first chunk of a chat stream: the role, no text yet (OpenAI's first chunk; clients take the role from it). */
    ObjectNode roleChunk() {
        ObjectNode delta = F.objectNode();
        delta.put("role", "assistant");
        delta.put("content", "");
        return chunk(delta, null, null);
    }

    ObjectNode textChunk(String text) {
        if (!chat) return chunk(null, text, null);
        ObjectNode delta = F.objectNode();
        delta.put("content", text);
        return chunk(delta, null, null);
    }

    /** The chunk that ends the choice: an empty delta and the finish reason. */
    ObjectNode finishChunk(String finish) { return chunk(chat ? F.objectNode() : null, chat ? null : "", finish); }

    /** The last chunk when usage was asked for: no choices, the counts. */
    ObjectNode usageChunk(int promptTokens, int completionTokens) {
        ObjectNode root = head(chat ? "chat.completion.chunk" : "text_completion");
        root.putArray("choices");
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    private ObjectNode chunk(ObjectNode delta, String text, String finish) {
        ObjectNode root = head(chat ? "chat.completion.chunk" : "text_completion");
        ArrayNode choices = root.putArray("choices");
        ObjectNode choice = choices.addObject();
        choice.put("index", 0);
        if (delta != null) choice.set("delta", delta);
        else choice.put("text", text);
        choice.putNull("logprobs");
        choice.put("finish_reason", finish);
        if (usageInChunks) root.putNull("usage");
        return root;
    }

    private ObjectNode head(String object) {
        ObjectNode root = F.objectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        root.putNull("system_fingerprint");
        return root;
    }

    private static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode u = F.objectNode();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        return u;
    }
}
