package io.deia.server.torture;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/1.1 over a plain socket, for requests no well-behaved client would send (bad header bytes,
 * lying lengths, invalid UTF-8, huge bodies). Every exchange uses {@code Connection: close} and
 * reads the answer until the server closes.
 */
final class RawHttp {
    private RawHttp() {
    }

    /** A parsed answer: status code (0 when the server closed without one), headers and body as text. */
    record Answer(int status, String head, String body) {
        boolean hasHeaderLine(String prefix) {
            return head.lines().anyMatch(l -> l.regionMatches(true, 0, prefix, 0, prefix.length()));
        }
    }

    /** Sends {@code head} (request line and header lines, CRLF added at the end) and {@code body}. */
    static Answer exchange(int port, String head, byte[] body) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            try {
                out.write((head + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                if (body != null) {
                    // In slices: a server that refuses early closes while we write, which must not fail the test.
                    for (int off = 0; off < body.length; off += 64 * 1024) {
                        out.write(body, off, Math.min(64 * 1024, body.length - off));
                    }
                }
                out.flush();
            } catch (IOException e) {
                // the server gave up on us mid-body; its answer (if any) is still readable
            }
            return read(s.getInputStream());
        }
    }

    static Answer read(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                all.write(buf, 0, n);
            }
        } catch (SocketTimeoutException | java.net.SocketException e) {
            // reset by the server after its answer: what arrived counts
        }
        String text = all.toString(StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        String head = end < 0 ? text : text.substring(0, end);
        String body = end < 0 ? "" : text.substring(end + 4);
        int status = 0;
        if (head.startsWith("HTTP/1.1 ") && head.length() >= 12) {
            status = Integer.parseInt(head.substring(9, 12));
        }
        return new Answer(status, head, body);
    }
}
