package io.deia.http.internal;

import io.deia.core.internal.io.Json;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Writes JSON bodies and NDJSON lines on Jetty core responses. */
public final class JsonResponses {
    /** Content type of every JSON body deia sends. */
    public static final String JSON = "application/json; charset=utf-8";
    /** Content type of streamed JSON lines. */
    public static final String NDJSON = "application/x-ndjson; charset=utf-8";

    private JsonResponses() {
    }

    /** Sends {@code body} serialised with {@link Json} as the whole response, then completes {@code callback}. */
    public static void send(Response response, Callback callback, int status, Object body) {
        closeIfBodyUnread(response);
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, JSON);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }

    /**
     * Marks the response {@code Connection: close} when part of the request body is still unread.
     * Jetty closes such a connection once the response is done (it cannot skip a body that has not
     * arrived); without the header a client that reuses the connection sends its next request into
     * the closing socket and gets no answer. Whatever body has already arrived is discarded here,
     * so answering early (an error, a handler that takes no body) keeps the connection when it can.
     */
    private static void closeIfBodyUnread(Response response) {
        Request request = response.getRequest();
        if (request != null && !response.isCommitted() && !request.consumeAvailable()) {
            response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
        }
    }

    /** Sets the status and headers of a streamed NDJSON response; write lines with {@link #writeLine}. */
    public static void startNdjson(Response response, int status) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, NDJSON);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
    }

    /** Sends the status line and headers now, before any content (blocks until written). */
    public static void flush(Response response) throws IOException {
        try (Blocker.Callback blocker = Blocker.callback()) {
            response.write(false, null, blocker);
            blocker.block();
        }
    }

    /**
     * Writes {@code value} as one JSON line and blocks until it was handed to the network, so each
     * line reaches the client as it happens (chunked encoding, no buffering).
     *
     * @throws IOException when the client went away
     */
    public static void writeLine(Response response, Object value) throws IOException {
        byte[] bytes = (Json.write(value) + "\n").getBytes(StandardCharsets.UTF_8);
        try (Blocker.Callback blocker = Blocker.callback()) {
            response.write(false, ByteBuffer.wrap(bytes), blocker);
            blocker.block();
        }
    }
}
