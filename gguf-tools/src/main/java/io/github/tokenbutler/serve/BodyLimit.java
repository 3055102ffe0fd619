package io.github.tokenbutler.serve;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;

/**
 * Collects a request's body up to a limit. A larger one (by its Content-Length, before a byte of it is read, or
 * as it arrives) is not answered here but passed on as a {@link TooLarge}, so that its 413 goes out in order after
 * any earlier request on the same connection; the aggregator drops the rest of its body.
 */
final class BodyLimit extends HttpObjectAggregator {
    /** A request refused for its size; closeAfter: the connection cannot carry another request after it. */
    record TooLarge(String method, String uri, int limit, boolean closeAfter) {}

    private final int limit;

    BodyLimit(int limit) {
        super(limit);
        this.limit = limit;
    }

    @Override protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        // The connection is kept only for a keep-alive request refused by its Content-Length without Expect: the
        // aggregator drops its body as it arrives and the next request follows. A client that waits for 100-continue
        // may or may not send the body now, and a cut body leaves no boundary to find the next request by.
        boolean close = oversized instanceof FullHttpMessage || HttpUtil.is100ContinueExpected(oversized) || !HttpUtil.isKeepAlive(oversized);
        String method = oversized instanceof HttpRequest r ? r.method().name() : "?", uri = oversized instanceof HttpRequest r ? r.uri() : "?";
        ctx.fireChannelRead(new TooLarge(method, uri, limit, close));
    }

    @Override protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
        // Netty answers an oversized 100-continue request itself, with an empty 413; leave it to handleOversizedMessage.
        if (HttpUtil.is100ContinueExpected(start) && HttpUtil.getContentLength(start, -1L) > maxContentLength) return null;
        return super.newContinueResponse(start, maxContentLength, pipeline);
    }
}
