package io.github.tokenbutler.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Request bodies of /v1/chat/completions and /v1/completions to {@link GenerationRequest}s, or an {@link ApiError}
 * naming the field at fault. JSON null counts as absent, as OpenAI treats it. A field is one of:
 * <ul>
 *   <li>used: model, messages or prompt, max_tokens, max_completion_tokens, temperature, top_p, seed, stop, stream,
 *       stream_options, n (1 only);</li>
 *   <li>accepted and ignored, because it never changes the text: user, metadata, store, service_tier,
 *       parallel_tool_calls, prompt_cache_key, safety_identifier; on a message, name and refusal;</li>
 *   <li>accepted at the value that changes nothing (frequency_penalty 0, logprobs false, response_format text, an
 *       empty tools list, a message's empty tool_calls, function_call, audio or annotations, ...) and refused at any
 *       other, since silently ignoring it would give another answer than the caller asked for;</li>
 *   <li>anything else, unless null: 400 unknown_parameter, so that a misspelt field is not mistaken for a setting
 *       that works.</li>
 * </ul>
 */
final class RequestParser {
    private RequestParser() {}

    /** OpenAI allows at most this many stop strings. */
    static final int MAX_STOP_STRINGS = 4;
    /** OpenAI's default for the legacy completions endpoint; chat has none (the text ends at an end token or the context). */
    static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION) // {"stream":false,"stream":true} is a mistake, not a choice
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static {
        // Deeply nested input is an attack, not a request: refuse it before the tree is built.
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build());
    }

    /** The body as a JSON object. */
    static ObjectNode object(byte[] body) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JacksonException e) {
            throw ApiError.invalid(null, "invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiError.invalid(null, "invalid_json", "the request body cannot be read: " + e.getMessage());
        }
        if (root == null || root.isMissingNode()) throw ApiError.invalid(null, "invalid_json", "the request body is empty; expected a JSON object");
        if (!(root instanceof ObjectNode o)) throw ApiError.invalid(null, "invalid_json", "the request body must be a JSON object, got " + kind(root));
        return o;
    }

    static GenerationRequest chat(ObjectNode body) {
        Fields f = new Fields(body, "");
        List<ChatMessage> messages = messages(f.required("messages"));
        // max_completion_tokens is the newer name; a client that sends both means the newer one.
        Integer maxCompletion = f.integer("max_completion_tokens", 1, Integer.MAX_VALUE);
        Integer max = f.integer("max_tokens", 1, Integer.MAX_VALUE);
        int maxTokens = maxCompletion != null ? maxCompletion : max != null ? max : Integer.MAX_VALUE;
        f.neutral("logprobs", n -> n.isBoolean() && !n.booleanValue(), "false");
        f.neutral("top_logprobs", n -> n.isIntegralNumber() && n.intValue() == 0, "0");
        f.neutral("response_format", n -> n.isObject() && n.size() == 1 && "text".equals(n.path("type").asText(null)), "{\"type\":\"text\"}");
        f.neutral("tools", n -> n.isArray() && n.isEmpty(), "an empty list (this server calls no tools)");
        f.neutral("tool_choice", n -> n.isTextual() && (n.textValue().equals("none") || n.textValue().equals("auto")), "\"none\" or \"auto\"");
        f.neutral("modalities", n -> n.isArray() && n.size() == 1 && "text".equals(n.get(0).asText(null)), "[\"text\"]");
        f.ignored("parallel_tool_calls", JsonNode::isBoolean, "a boolean");
        return common(f, messages, null, maxTokens);
    }

    static GenerationRequest completion(ObjectNode body) {
        Fields f = new Fields(body, "");
        String prompt = prompt(f.required("prompt"));
        Integer max = f.integer("max_tokens", 1, Integer.MAX_VALUE);
        f.neutral("echo", n -> n.isBoolean() && !n.booleanValue(), "false");
        f.neutral("best_of", n -> n.isIntegralNumber() && n.intValue() == 1, "1");
        f.neutral("logprobs", n -> n.isIntegralNumber() && n.intValue() == 0, "0");
        f.neutral("suffix", n -> n.isTextual() && n.textValue().isEmpty(), "an empty string");
        return common(f, null, prompt, max != null ? max : COMPLETION_DEFAULT_MAX_TOKENS);
    }

    /** The fields both endpoints share, then the check that nothing unknown is left. */
    private static GenerationRequest common(Fields f, List<ChatMessage> messages, String prompt, int maxTokens) {
        f.string("model"); // one model is served: any name reaches it, and responses say which one it is
        Float temperature = f.number("temperature", 0, 2);
        Float topP = f.number("top_p", 0, 1);
        Long seed = f.longValue("seed");
        List<String> stop = stop(f.get("stop"));
        Boolean stream = f.bool("stream");
        JsonNode streamOptions = f.get("stream_options");
        boolean includeUsage = streamOptions(streamOptions);
        // As OpenAI does: options for a stream that is not asked for are a mistake in the request, not a no-op.
        if (streamOptions != null && (stream == null || !stream)) {
            throw ApiError.invalid("stream_options", "invalid_value", "stream_options is only allowed when stream is true");
        }
        Integer n = f.integer("n", 1, Integer.MAX_VALUE);
        if (n != null && n != 1) throw ApiError.invalid("n", "unsupported_value", "n must be 1: this server generates one choice per request, got " + n);
        f.neutral("frequency_penalty", RequestParser::isZero, "0");
        f.neutral("presence_penalty", RequestParser::isZero, "0");
        f.neutral("logit_bias", n2 -> n2.isObject() && n2.isEmpty(), "an empty object");
        f.ignored("user", JsonNode::isTextual, "a string");
        f.ignored("metadata", JsonNode::isObject, "an object");
        f.ignored("store", JsonNode::isBoolean, "a boolean");
        f.ignored("service_tier", JsonNode::isTextual, "a string");
        f.ignored("prompt_cache_key", JsonNode::isTextual, "a string");
        f.ignored("safety_identifier", JsonNode::isTextual, "a string");
        f.rejectUnknown();
        float t = temperature != null ? temperature : 1f, p = topP != null ? topP : 1f;
        // top_p 0 keeps only the most likely token: greedy, which the sampler spells as temperature 0.
        if (p == 0f) {
            t = 0f;
            p = 1f;
        }
        return new GenerationRequest(messages, prompt, maxTokens, t, p, seed, stop, stream != null && stream, includeUsage);
    }

    private static boolean isZero(JsonNode n) { return n.isNumber() && n.doubleValue() == 0; }

    private static boolean isEmptyValue(JsonNode n) { return (n.isArray() || n.isObject()) && n.isEmpty(); }

    private static List<ChatMessage> messages(JsonNode node) {
        if (!node.isArray()) throw typeError("messages", "an array of messages", node);
        if (node.isEmpty()) throw ApiError.invalid("messages", "invalid_value", "messages must hold at least one message");
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            String where = "messages[" + i + "]";
            JsonNode m = node.get(i);
            if (!(m instanceof ObjectNode o)) throw typeError(where, "an object", m);
            Fields f = new Fields(o, where + ".");
            JsonNode roleNode = f.required("role");
            if (!roleNode.isTextual()) throw typeError(where + ".role", "a string", roleNode);
            String role = switch (roleNode.textValue()) {
                case "system", "developer" -> "system"; // developer is OpenAI's newer name for system
                case "user" -> "user";
                case "assistant" -> "assistant";
                case "tool", "function" -> throw ApiError.invalid(where + ".role", "unsupported_value",
                        "role '" + roleNode.textValue() + "' is not supported: this server calls no tools");
                default -> throw ApiError.invalid(where + ".role", "invalid_value",
                        "role must be system, developer, user or assistant, got '" + roleNode.textValue() + "'");
            };
            String content = content(where + ".content", f.required("content"));
            f.ignored("name", JsonNode::isTextual, "a string");
            // What a response's message carries: clients send the assistant's message back as history unchanged.
            f.ignored("refusal", JsonNode::isTextual, "a string");
            for (String emptyInAnswers : List.of("tool_calls", "function_call", "audio", "annotations")) {
                f.neutral(emptyInAnswers, RequestParser::isEmptyValue, "null or empty (this server calls no tools)");
            }
            f.rejectUnknown();
            out.add(new ChatMessage(role, content));
        }
        return out;
    }

    /** A message's content: a string, or OpenAI's list of parts, of which text parts only. */
    private static String content(String where, JsonNode node) {
        if (node.isTextual()) return node.textValue();
        if (!node.isArray()) throw typeError(where, "a string or an array of text parts", node);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < node.size(); i++) {
            String partWhere = where + "[" + i + "]";
            if (!(node.get(i) instanceof ObjectNode part)) throw typeError(partWhere, "an object", node.get(i));
            Fields f = new Fields(part, partWhere + ".");
            JsonNode type = f.required("type");
            if (!type.isTextual()) throw typeError(partWhere + ".type", "a string", type);
            if (!type.textValue().equals("text")) {
                throw ApiError.invalid(partWhere + ".type", "unsupported_value", "only text content parts are supported, got '" + type.textValue() + "'");
            }
            String s = f.string("text");
            if (s == null) throw ApiError.invalid(partWhere + ".text", "missing_required_parameter", "a text part needs 'text'");
            f.rejectUnknown();
            text.append(s);
        }
        return text.toString();
    }

    /** A prompt: a string, or a list holding one string (what the openai clients send for a single prompt too). */
    private static String prompt(JsonNode node) {
        if (node.isTextual()) return node.textValue();
        if (node.isArray()) {
            if (node.size() == 1 && node.get(0).isTextual()) return node.get(0).textValue();
            if (node.size() > 1) throw ApiError.invalid("prompt", "unsupported_value", "one prompt per request: got a list of " + node.size());
        }
        throw typeError("prompt", "a string (token lists are not supported)", node);
    }

    private static List<String> stop(JsonNode node) {
        if (node == null) return List.of();
        List<String> out = new ArrayList<>();
        if (node.isTextual()) {
            out.add(node.textValue());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isTextual()) throw typeError("stop", "a string or an array of strings", node);
                out.add(s.textValue());
            }
        } else {
            throw typeError("stop", "a string or an array of strings", node);
        }
        if (out.size() > MAX_STOP_STRINGS) {
            throw ApiError.invalid("stop", "invalid_value", "at most " + MAX_STOP_STRINGS + " stop strings, got " + out.size());
        }
        if (out.contains("")) throw ApiError.invalid("stop", "invalid_value", "a stop string must not be empty");
        return out;
    }

    private static boolean streamOptions(JsonNode node) {
        if (node == null) return false;
        if (!(node instanceof ObjectNode o)) throw typeError("stream_options", "an object", node);
        Fields f = new Fields(o, "stream_options.");
        Boolean usage = f.bool("include_usage");
        f.ignored("include_obfuscation", JsonNode::isBoolean, "a boolean"); // padding against side channels: nothing to hide here
        f.rejectUnknown();
        return usage != null && usage;
    }

    static ApiError typeError(String param, String expected, JsonNode got) {
        return ApiError.invalid(param, "invalid_type", param + " must be " + expected + ", got " + kind(got));
    }

    private static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> n.booleanValue() ? "true" : "false";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        };
    }

    /** The fields of one JSON object, remembering which were read so that the rest can be refused by name. */
    private static final class Fields {
        private final ObjectNode node;
        private final String prefix;
        private final Set<String> read = new HashSet<>();

        Fields(ObjectNode node, String prefix) {
            this.node = node;
            this.prefix = prefix;
        }

        /** The value, or null when absent or JSON null. */
        JsonNode get(String name) {
            read.add(name);
            JsonNode v = node.get(name);
            return v == null || v.isNull() ? null : v;
        }

        JsonNode required(String name) {
            JsonNode v = get(name);
            if (v == null) throw ApiError.invalid(prefix + name, "missing_required_parameter", "missing required parameter '" + prefix + name + "'");
            return v;
        }

        String string(String name) {
            JsonNode v = get(name);
            if (v != null && !v.isTextual()) throw typeError(prefix + name, "a string", v);
            return v == null ? null : v.textValue();
        }

        Boolean bool(String name) {
            JsonNode v = get(name);
            if (v != null && !v.isBoolean()) throw typeError(prefix + name, "a boolean", v);
            return v == null ? null : v.booleanValue();
        }

        Integer integer(String name, int min, int max) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isIntegralNumber()) throw typeError(prefix + name, "an integer", v);
            if (!v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
                throw ApiError.invalid(prefix + name, "invalid_value", prefix + name + " must be an integer from " + min
                        + (max == Integer.MAX_VALUE ? " up" : " to " + max) + ", got " + v);
            }
            return v.intValue();
        }

        Long longValue(String name) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isIntegralNumber() || !v.canConvertToLong()) throw typeError(prefix + name, "an integer (64-bit)", v);
            return v.longValue();
        }

        Float number(String name, double min, double max) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isNumber()) throw typeError(prefix + name, "a number", v);
            double d = v.doubleValue();
            if (!(d >= min && d <= max)) {
                throw ApiError.invalid(prefix + name, "invalid_value", prefix + name + " must be a number from " + plain(min) + " to " + plain(max) + ", got " + v);
            }
            return (float) d;
        }

        /** A field that changes nothing here: accepted when its type is right, then ignored. */
        void ignored(String name, Predicate<JsonNode> type, String expected) {
            JsonNode v = get(name);
            if (v != null && !type.test(v)) throw typeError(prefix + name, expected, v);
        }

        /** A field this server accepts only at its neutral value, because any other would change the answer. */
        void neutral(String name, Predicate<JsonNode> neutral, String neutralValue) {
            JsonNode v = get(name);
            if (v != null && !neutral.test(v)) {
                throw ApiError.invalid(prefix + name, "unsupported_value", prefix + name + " is not supported by this server: only "
                        + neutralValue + " (or leaving it out) is accepted, got " + v);
            }
        }

        /** A 400 naming the first field (in the request's order) that nothing read; a null one counts as absent. */
        void rejectUnknown() {
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!read.contains(name) && !node.get(name).isNull()) {
                    throw ApiError.invalid(prefix + name, "unknown_parameter", "unknown parameter '" + prefix + name + "'");
                }
            }
        }

        private static String plain(double d) { return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d); }
    }
}
