package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.UserError;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.net.BindException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The OpenAI-compatible HTTP server: Netty's event loops take connections and requests concurrently, and a
 * {@link ModelQueue} runs their generations one at a time. {@link #start} binds and returns; {@link #close} stops
 * accepting, ends what waits or runs, and releases the threads (the model stays the caller's to close).
 */
public final class OpenAiServer implements AutoCloseable {
    /**
     * @param host            the address to listen on; 127.0.0.1 unless the server should be reachable from elsewhere
     * @param port            0 picks a free port (tests)
     * @param queueCapacity   requests that may wait for the model; one more is refused with 503
     * @param maxRequestBytes larger request bodies are refused with 413 before they are read
     * @param idleSeconds     a connection with no request in flight is closed after this long
     */
    public record Options(String host, int port, int queueCapacity, int maxRequestBytes, int idleSeconds) {
        public static final int DEFAULT_PORT = 8080, DEFAULT_QUEUE = 16, DEFAULT_MAX_REQUEST_BYTES = 4 << 20, DEFAULT_IDLE_SECONDS = 60;

        public Options {
            // Every request passes through the queue on its way to the model: with no room, all would get 503.
            if (queueCapacity < 1) {
                throw new IllegalArgumentException("queueCapacity must be at least 1 (a request waits in the queue before it runs), got " + queueCapacity);
            }
        }

        public static Options defaults() {
            return new Options("127.0.0.1", DEFAULT_PORT, DEFAULT_QUEUE, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_IDLE_SECONDS);
        }

        public Options withPort(int p) { return new Options(host, p, queueCapacity, maxRequestBytes, idleSeconds); }
        public Options withQueue(int q) { return new Options(host, port, q, maxRequestBytes, idleSeconds); }
        public Options withMaxRequestBytes(int b) { return new Options(host, port, queueCapacity, b, idleSeconds); }
    }

    /** HTTP work is parsing and writing small messages; two loops keep /health answering while another is busy. */
    private static final int EVENT_LOOP_THREADS = 2;

    final TextModel model;
    final ModelQueue queue;
    final Options options;
    final Consumer<String> log;
    private final EventLoopGroup loops;
    private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final Channel listener;
    private final AtomicBoolean closing = new AtomicBoolean();
    /** Requests taken and not yet fully answered, over all connections. */
    final AtomicInteger responsesInFlight = new AtomicInteger();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean modelIdle;

    private OpenAiServer(TextModel model, Options options, Consumer<String> log) {
        this.model = model;
        this.options = options;
        this.log = log;
        InetAddress address;
        try {
            address = InetAddress.getByName(options.host());
        } catch (UnknownHostException e) {
            throw new UserError("serve: --host '" + options.host() + "' is not an address or a name this machine can resolve");
        }
        this.loops = new MultiThreadIoEventLoopGroup(EVENT_LOOP_THREADS, NioIoHandler.newFactory());
        this.queue = new ModelQueue(model, options.queueCapacity(), log);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loops)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override protected void initChannel(SocketChannel ch) {
                        channels.add(ch);
                        ch.pipeline()
                                .addLast(new IdleStateHandler(0, 0, options.idleSeconds(), TimeUnit.SECONDS))
                                .addLast(new HttpServerCodec())
                                .addLast(new HttpServerKeepAliveHandler())
                                .addLast(new BodyLimit(options.maxRequestBytes()))
                                .addLast(new ApiHandler(OpenAiServer.this));
                    }
                });
        ChannelFuture bound = bootstrap.bind(new InetSocketAddress(address, options.port())).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            queue.close();
            loops.shutdownGracefully(0, 0, TimeUnit.SECONDS).awaitUninterruptibly();
            Throwable cause = bound.cause();
            String where = hostForUrl(address) + ":" + options.port();
            if (cause instanceof BindException b && String.valueOf(b.getMessage()).contains("in use")) {
                throw new UserError("serve: cannot listen on " + where + ": the port is in use (pick another with --port)");
            }
            throw new UserError("serve: cannot listen on " + where + ": " + cause.getMessage());
        }
        this.listener = bound.channel();
    }

    /** Binds and starts serving; a bind failure (port in use, not an address here) is a {@link UserError}. */
    public static OpenAiServer start(TextModel model, Options options, Consumer<String> log) {
        return new OpenAiServer(model, options, log);
    }

    public InetSocketAddress address() { return (InetSocketAddress) listener.localAddress(); }

    /** http://host:port/, the base URL without /v1. */
    public String url() { return "http://" + hostForUrl(address().getAddress()) + ":" + address().getPort(); }

    boolean closing() { return closing.get(); }

    private static String hostForUrl(InetAddress a) {
        return a instanceof Inet6Address ? "[" + a.getHostAddress() + "]" : a.getHostAddress();
    }

    /**
     * After {@link #close}: whether no generation runs on the model any more, so that it may be closed. False when
     * one outlasted close's wait (a long prefill is not interrupted): closing the model under it would pull its
     * memory away mid-matmul, so the caller leaves it to the process's exit.
     */
    public boolean modelIdle() { return modelIdle; }

    /** Blocks until {@link #close} has finished (from a shutdown hook or another thread). */
    public void awaitClose() throws InterruptedException { closed.await(); }

    /**
     * Stops listening, answers waiting requests with 503, ends the running generation after its current token (a
     * prefill in progress runs to its end), then closes the connections and the event loops. Safe to call twice and
     * from a shutdown hook.
     */
    @Override public void close() {
        if (!closing.compareAndSet(false, true)) {
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        try {
            listener.close().awaitUninterruptibly();
            modelIdle = queue.close();
            if (!modelIdle) log.accept("a generation still runs on the model (a prefill in progress is not interrupted)");
            // The responses just written (503s, the cancelled stream's end) get a moment to leave before the close.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (responsesInFlight.get() > 0 && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
            loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        } finally {
            closed.countDown();
        }
    }
}
