package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.awaitility.Awaitility.await;

/** A real WebSocket client (java.net.http) that collects every event it receives. */
final class WsClient implements WebSocket.Listener {
    final List<JsonNode> events = new CopyOnWriteArrayList<>();
    final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();
    WebSocket socket;

    static WsClient connect(String baseHttpUrl, String query, String token, String origin) throws Exception {
        WsClient c = new WsClient();
        WebSocket.Builder b = HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (origin != null) {
            b.header("Origin", origin);
        }
        String url = baseHttpUrl.replace("http://", "ws://") + "/ws" + (query == null ? "" : "?" + query);
        c.socket = b.buildAsync(URI.create(url), c).get(10, TimeUnit.SECONDS);
        return c;
    }

    void send(String json) {
        socket.sendText(json, true).join();
    }

    JsonNode waitFor(Predicate<JsonNode> match) {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> events.stream().anyMatch(match));
        return events.stream().filter(match).findFirst().orElseThrow();
    }

    void abort() {
        socket.abort();
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        partial.append(data);
        if (last) {
            events.add(Json.read(partial.toString(), JsonNode.class, "event"));
            partial.setLength(0);
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        closed.complete(statusCode);
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        closed.complete(-1);
    }
}
