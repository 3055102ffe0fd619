package io.github.tokenbutler.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.tokenbutler.runtime.Llama3.Completion;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * One connection's requests. Routing and the cheap answers (/health, /v1/models, errors) happen on the event loop;
 * a generation request is parsed and measured on a virtual thread (a long prompt takes a while to tokenize) and
 * then waits in the model's queue, whose worker writes its answer. A connection answers its requests in the order
 * they came (HTTP/1.1 pipelining): the next is taken only when the previous answer is written.
 * <p>
 * The connection is read all along, also while its request waits or runs, so that a client that closes it is seen
 * at once and its generation cancelled (the JDK's built-in server reads a connection only when a handler does).
 */
final class ApiHandler extends ChannelInboundHandlerAdapter {
    /** More pipelined requests than this on one connection is not a client but a flood: the connection is closed. */
    private static final int MAX_PIPELINED = 16;
    private static final String CHAT = "/v1/chat/completions", COMPLETIONS = "/v1/completions", MODELS = "/v1/models";

    private final OpenAiServer server;
    /** Requests read but not yet taken (event loop only): FullHttpRequest or BodyLimit.TooLarge. */
    private final ArrayDeque<Object> pending = new ArrayDeque<>();
    /** Whether a request is being answered (event loop only). */
    private boolean answering;
    /** The generation of the request being answered, cancelled when the connection closes. */
    private volatile ModelQueue.Job job;

    ApiHandler(OpenAiServer server) { this.server = server; }

    @Override public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest) && !(msg instanceof BodyLimit.TooLarge)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (pending.size() >= MAX_PIPELINED) {
            ReferenceCountUtil.release(msg);
            ctx.close();
            return;
        }
        pending.add(msg);
        takeNext(ctx);
    }

    private void takeNext(ChannelHandlerContext ctx) {
        if (answering || pending.isEmpty() || !ctx.channel().isActive()) return;
        answering = true;
        server.responsesInFlight.incrementAndGet();
        Object next = pending.poll();
        if (next instanceof BodyLimit.TooLarge t) {
            Exchange x = new Exchange(ctx, t.method(), pathOf(t.uri()), t.closeAfter());
            x.error(new ApiError(413, "invalid_request_error", "the request body is larger than this server's limit of " + t.limit()
                    + " bytes (serve --max-request-bytes)", null, "request_too_large", 0));
            return;
        }
        FullHttpRequest request = (FullHttpRequest) next;
        try {
            route(ctx, request);
        } finally {
            request.release();
        }
    }

    /** Called on the event loop when an answer is fully written (or its connection is gone). */
    private void answered(ChannelHandlerContext ctx) {
        job = null;
        answering = false;
        server.responsesInFlight.decrementAndGet();
        takeNext(ctx);
    }

    private void route(ChannelHandlerContext ctx, FullHttpRequest request) {
        String method = request.method().name(), path = pathOf(request.uri());
        Exchange x = new Exchange(ctx, method, path, !HttpUtil.isKeepAlive(request));
        if (request.decoderResult().isFailure()) {
            x.closeAfter = true;
            x.error(ApiError.invalid(null, "bad_request", "the request is not valid HTTP: " + request.decoderResult().cause().getMessage()));
            return;
        }
        switch (path) {
            case "/health" -> {
                if (x.allow(request, HttpMethod.GET)) x.json(server.closing() ? 503 : 200, health());
            }
            case MODELS -> {
                if (x.allow(request, HttpMethod.GET)) {
                    ObjectNode list = JsonNodeFactory.instance.objectNode();
                    list.put("object", "list");
                    list.putArray("data").add(modelObject());
                    x.json(200, list);
                }
            }
            case CHAT, COMPLETIONS -> {
                if (x.allow(request, HttpMethod.POST)) {
                    byte[] body = ByteBufUtil.getBytes(request.content());
                    boolean chat = path.equals(CHAT);
                    Thread.ofVirtual().name("serve-request").start(() -> prepare(x, chat, body));
                }
            }
            default -> {
                if (path.startsWith(MODELS + "/")) {
                    if (!x.allow(request, HttpMethod.GET)) return;
                    String id = path.substring(MODELS.length() + 1);
                    if (id.equals(server.model.id())) x.json(200, modelObject());
                    else x.error(new ApiError(404, "invalid_request_error", "the model '" + id + "' does not exist; this server has '"
                            + server.model.id() + "'", "model", "model_not_found", 0));
                } else {
                    x.error(new ApiError(404, "invalid_request_error", "no such route: " + method + " " + path
                            + " (routes: POST " + CHAT + ", POST " + COMPLETIONS + ", GET " + MODELS + ", GET /health)", null, "not_found", 0));
                }
            }
        }
    }

    private static String pathOf(String uri) {
        int q = uri.indexOf('?');
        return q >= 0 ? uri.substring(0, q) : uri;
    }

    /** Parses the body, checks it against the context, and queues it (off the event loop). */
    private void prepare(Exchange x, boolean chat, byte[] body) {
        GenerationRequest request;
        int promptTokens;
        try {
            ObjectNode json = RequestParser.object(body);
            request = chat ? RequestParser.chat(json) : RequestParser.completion(json);
            promptTokens = server.model.promptTokens(request);
            int context = server.model.contextLength();
            // The model needs a token to start from; without one the generation itself would fail, as a 500.
            if (promptTokens == 0) {
                throw ApiError.invalid(request.textParam(), "invalid_value", "the " + (chat ? "messages hold" : "prompt holds")
                        + " no tokens, and this model adds no start token: give some text to continue");
            }
            // At least one new token must fit; a max_tokens beyond what is left is cut at the context (finish "length").
            if (promptTokens >= context) {
                throw ApiError.invalid(request.textParam(), "context_length_exceeded", "this model's context is " + context
                        + " tokens, but the " + (chat ? "messages take " : "prompt takes ") + promptTokens
                        + " tokens and at least one must be left to generate; shorten the " + request.textParam());
            }
        } catch (ApiError e) {
            x.error(e);
            return;
        } catch (RuntimeException e) {
            server.log.accept("cannot prepare a request: " + e);
            // The cause stays in the log: class names and internals are nothing a client can act on, nor should see.
            x.error(ApiError.server(500, "internal_error", "internal error while preparing the request; the server's log has the cause"));
            return;
        }
        ModelQueue.Job j = new ModelQueue.Job(request, new Generation(x, request, promptTokens));
        // Known before it can run, so that a close from now on cancels it; one that closed before did not: check.
        job = j;
        if (!x.ctx.channel().isActive()) {
            x.abandon();
            return;
        }
        try {
            server.queue.submit(j);
        } catch (ApiError e) {
            x.error(e);
            return;
        }
        // A close between the check above and the submit found the job not yet queued: take it out now.
        if (!x.ctx.channel().isActive()) server.queue.withdraw(j);
    }

    @Override public void channelInactive(ChannelHandlerContext ctx) {
        ModelQueue.Job j = job;
        // Cancelled, and out of the line at once when it still waits, so that its place goes to another request.
        if (j != null) server.queue.withdraw(j);
        for (Object o : pending) ReferenceCountUtil.release(o);
        pending.clear();
        ctx.fireChannelInactive();
    }

    @Override public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event instanceof IdleStateEvent && !answering && pending.isEmpty()) ctx.close();
        else ctx.fireUserEventTriggered(event);
    }

    @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A reset connection is a client leaving, which channelInactive handles; anything else is worth a line.
        if (!(cause instanceof java.io.IOException) && !(cause instanceof PrematureChannelClosureException)) {
            server.log.accept("connection error: " + cause);
        }
        ctx.close();
    }

    private ObjectNode health() {
        ObjectNode h = JsonNodeFactory.instance.objectNode();
        h.put("status", server.closing() ? "shutting_down" : "ok");
        h.put("model", server.model.id());
        h.put("context", server.model.contextLength());
        h.put("generating", server.queue.busy());
        h.put("waiting", server.queue.waitingCount());
        h.put("queue_capacity", server.queue.capacity());
        return h;
    }

    private ObjectNode modelObject() {
        ObjectNode m = JsonNodeFactory.instance.objectNode();
        m.put("id", server.model.id());
        m.put("object", "model");
        m.put("created", 0);
        m.put("owned_by", "tokenbutler");
        return m;
    }

    /** One request's answer: how it is written, and the log line when it is done. */
    private final class Exchange {
        final ChannelHandlerContext ctx;
        final String method, path;
        final long started = System.nanoTime();
        boolean closeAfter;
        /** Whether this answer was counted as done (event loop only): an abort and a write's end may both report it. */
        private boolean finished;

        Exchange(ChannelHandlerContext ctx, String method, String path, boolean closeAfter) {
            this.ctx = ctx;
            this.method = method;
            this.path = path;
            this.closeAfter = closeAfter;
        }

        /** Whether the method is the route's; else a 405 naming the one it takes. */
        boolean allow(FullHttpRequest request, HttpMethod allowed) {
            if (request.method().equals(allowed)) return true;
            ApiError e = new ApiError(405, "invalid_request_error", method + " is not allowed on " + path + "; use " + allowed.name(),
                    null, "method_not_allowed", 0);
            send(response(405, e.body(), e), allowed.name());
            return false;
        }

        void json(int status, JsonNode body) { send(response(status, body, null), null); }

        void error(ApiError e) {
            if (e.status() >= 400 && !path.equals("/health")) log(e.status() + " " + e.code() + ": " + e.getMessage());
            send(response(e.status(), e.body(), e), null);
        }

        private FullHttpResponse response(int status, JsonNode body, ApiError e) {
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status), Unpooled.wrappedBuffer(bytes(body)));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
            HttpUtil.setContentLength(r, r.content().readableBytes());
            if (e != null && e.retryAfter() > 0) r.headers().set(HttpHeaderNames.RETRY_AFTER, e.retryAfter());
            if (closeAfter) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            return r;
        }

        private void send(FullHttpResponse r, String allow) {
            if (allow != null) r.headers().set(HttpHeaderNames.ALLOW, allow);
            ctx.writeAndFlush(r).addListener((ChannelFutureListener) f -> {
                if (closeAfter || !f.isSuccess()) ctx.close();
                finish();
            });
        }

        /** Starts a streamed answer: 200 and the SSE headers. */
        void startStream() {
            HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
            HttpUtil.setTransferEncodingChunked(r, true);
            if (closeAfter) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.write(r);
        }

        /** One server-sent event, "data: ...\n\n". */
        void event(String data, boolean flush) {
            ByteBuf buf = Unpooled.copiedBuffer("data: " + data + "\n\n", StandardCharsets.UTF_8);
            var f = flush ? ctx.writeAndFlush(new DefaultHttpContent(buf)) : ctx.write(new DefaultHttpContent(buf));
            f.addListener((ChannelFutureListener) w -> {
                if (!w.isSuccess()) {
                    ModelQueue.Job j = job;
                    if (j != null) j.cancel(); // the client is gone: stop generating for it
                }
            });
        }

        void endStream() {
            ctx.writeAndFlush(new DefaultLastHttpContent()).addListener((ChannelFutureListener) f -> {
                if (closeAfter || !f.isSuccess()) ctx.close();
                finish();
            });
        }

        /** The connection is gone: nothing to write, the next request may not come but the count must be right. */
        void abandon() { ctx.executor().execute(this::finish); }

        /** The answer cannot be completed: the client sees the connection close instead of waiting for the rest. */
        void giveUp() {
            ctx.close();
            abandon();
        }

        private void finish() {
            if (finished) return;
            finished = true;
            answered(ctx);
        }

        void log(String what) {
            server.log.accept(String.format(Locale.ROOT, "%s %s %s (%.0f ms)", method, path, what, (System.nanoTime() - started) / 1e6));
        }
    }

    /** A queued generation: writes its answer from the model's worker thread as the queue reports. */
    private final class Generation implements ModelQueue.Listener {
        private final Exchange x;
        private final GenerationRequest request;
        private final int promptTokens;
        private final Responses responses;
        private boolean streaming;

        Generation(Exchange x, GenerationRequest request, int promptTokens) {
            this.x = x;
            this.request = request;
            this.promptTokens = promptTokens;
            this.responses = new Responses(request.chat(), server.model.id(), request.stream() && request.includeUsage());
        }

        @Override public void started() {
            if (!request.stream() || !x.ctx.channel().isActive()) return;
            streaming = true;
            x.startStream();
            if (request.chat()) x.event(json(responses.roleChunk()), true);
        }

        @Override public void text(String piece) {
            // Not streamed: the whole text comes with done(), in the Completion.
            if (streaming) x.event(json(responses.textChunk(piece)), true);
        }

        @Override public void done(Completion c) {
            String counts = String.format(Locale.ROOT, "%d prompt + %d generated tokens, %.0f tok/s", c.promptTokens(), c.generatedTokens(), c.decodeTokensPerSecond());
            if (c.finish().equals("cancelled")) {
                if (!x.ctx.channel().isActive()) {
                    x.log("client went away: generation cancelled after " + counts);
                    x.abandon();
                } else {
                    failed(ApiError.server(503, "shutting_down", "the server is shutting down; the generation was stopped"));
                }
                return;
            }
            x.log("200 " + (request.stream() ? "stream" : "json") + ", finish " + c.finish() + ", " + counts);
            if (streaming) {
                x.event(json(responses.finishChunk(c.finish())), false);
                if (request.includeUsage()) x.event(json(responses.usageChunk(c.promptTokens(), c.generatedTokens())), false);
                x.event("[DONE]", false);
                x.endStream();
            } else if (request.stream()) {
                x.abandon(); // the connection closed before the stream began
            } else {
                x.json(200, responses.complete(c.text(), c.finish(), c.promptTokens(), c.generatedTokens()));
            }
        }

        @Override public void failed(ApiError e) {
            if (!x.ctx.channel().isActive()) {
                x.abandon();
            } else if (streaming) {
                // The 200 is out: OpenAI's way to fail a stream is an event holding the error body, which its clients raise.
                x.log(e.status() + " in stream: " + e.getMessage());
                x.event(json(e.body()), false);
                x.endStream();
            } else {
                x.error(e);
            }
        }

        @Override public void abort(Throwable cause) { x.giveUp(); }
    }

    private static byte[] bytes(JsonNode body) {
        try {
            return RequestParser.JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a response tree that does not serialize: " + e.getMessage(), e);
        }
    }

    private static String json(JsonNode body) { return new String(bytes(body), StandardCharsets.UTF_8); }
}
