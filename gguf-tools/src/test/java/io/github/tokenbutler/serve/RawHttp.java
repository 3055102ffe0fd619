package io.github.tokenbutler.serve;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/1.1 over a plain socket, for what an HTTP client library will not do on request: pipeline two requests,
 * or hang up in the middle of an answer.
 */
final class RawHttp implements AutoCloseable {
    private final Socket socket = new Socket();
    private final InputStream in;
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();

    RawHttp(int port) throws IOException {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(10_000);
        in = socket.getInputStream();
    }

    static String post(String path, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\n\r\n" + json;
    }

    static String get(String path) { return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"; }

    RawHttp send(String... requests) throws IOException {
        socket.getOutputStream().write(String.join("", requests).getBytes(StandardCharsets.UTF_8));
        socket.getOutputStream().flush();
        return this;
    }

    /** Reads until what came holds marker (count times), and returns all that came so far. */
    String readUntil(String marker, int count) throws IOException {
        byte[] buf = new byte[8192];
        while (occurrences(text(), marker) < count) {
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException e) {
                throw new AssertionError("no '" + marker + "' within 10 s; got: " + text());
            }
            if (n < 0) throw new AssertionError("connection closed before '" + marker + "'; got: " + text());
            received.write(buf, 0, n);
        }
        return text();
    }

    String text() { return received.toString(StandardCharsets.UTF_8); }

    private static int occurrences(String s, String marker) {
        int n = 0;
        for (int i = s.indexOf(marker); i >= 0; i = s.indexOf(marker, i + marker.length())) n++;
        return n;
    }

    /** Hangs up (a reset rather than a polite close, as a killed client does). */
    @Override public void close() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }
}
