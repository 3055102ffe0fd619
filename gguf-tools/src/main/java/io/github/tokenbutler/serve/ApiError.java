package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server answers with an OpenAI-style error body instead of a completion:
 * {@code {"error":{"message":...,"type":...,"param":...,"code":...}}}. OpenAI's clients read these fields (the
 * openai package throws an APIError carrying them), so each one says something a caller can act on.
 *
 * @param status     the HTTP status
 * @param type       invalid_request_error (the caller's fault) or server_error
 * @param param      the request field at fault ("messages[0].role", "stop"), or null
 * @param code       a stable word for programs (unknown_parameter, context_length_exceeded, ...), or null
 * @param retryAfter seconds for a Retry-After header, or 0 for none
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type, param, code;
    private final int retryAfter;

    ApiError(int status, String type, String message, String param, String code, int retryAfter) {
        super(message, null, false, false); // an answer to a client, not a failure: no stack trace to fill
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfter = retryAfter;
    }

    /** 400 for a field: what was wrong with it, in words. */
    static ApiError invalid(String param, String code, String message) {
        return new ApiError(400, "invalid_request_error", message, param, code, 0);
    }

    static ApiError server(int status, String code, String message) {
        return new ApiError(status, "server_error", message, null, code, 0);
    }

    public int status() { return status; }
    public String type() { return type; }
    public String param() { return param; }
    public String code() { return code; }
    public int retryAfter() { return retryAfter; }

    ObjectNode body() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return root;
    }
}
