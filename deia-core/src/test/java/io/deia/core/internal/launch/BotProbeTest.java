package io.deia.core.internal.launch;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotProbeTest {
    private final BotProbe probe = new BotProbe(Duration.ofSeconds(2));
    private HttpServer server;

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.stop(0);
        }
    }

    /** A port nothing listens on: bound once to get a free number, then closed. */
    private static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    /** A local HTTP server answering {@code /health} with {@code status} and {@code body}; counts requests. */
    private int serveHealth(int status, String body, AtomicInteger requests) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.createContext("/health", exchange -> {
            requests.incrementAndGet();
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
        return server.getAddress().getPort();
    }

    @Test
    void acceptsTellsAListeningPortFromAClosedOne() throws IOException {
        try (ServerSocket open = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            assertTrue(BotProbe.accepts("127.0.0.1", open.getLocalPort()));
        }
        assertFalse(BotProbe.accepts("127.0.0.1", closedPort()));
        assertFalse(BotProbe.accepts("no-such-host.invalid", 80), "an unknown host is not an answer");
    }

    @Test
    void closedPortIsNotHealthyWithoutAnHttpRequest() throws IOException {
        int port = closedPort();
        assertEquals(Optional.empty(), probe.health("127.0.0.1", port));
        assertFalse(probe.isHealthy("127.0.0.1", port, "BOT-1"));
    }

    @Test
    void healthJsonNamesTheBotAndItsPid() throws IOException {
        AtomicInteger requests = new AtomicInteger();
        int port = serveHealth(200, "{\"status\":\"ok\",\"bot_id\":\"BOT-1\",\"pid\":42}", requests);
        assertEquals(Optional.of(new BotProbe.Health("BOT-1", 42)), probe.health("127.0.0.1", port));
        assertTrue(probe.isHealthy("127.0.0.1", port, "BOT-1"));
        assertFalse(probe.isHealthy("127.0.0.1", port, "BOT-2"), "another bot's runner on that port");
        assertEquals(3, requests.get(), "the open port was asked over HTTP each time");
    }

    @Test
    void aWaitIsSentAsWaitMsAndTheRequestTimeoutCoversIt() throws IOException {
        java.util.List<String> queries = new java.util.concurrent.CopyOnWriteArrayList<>();
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        server.createContext("/health", exchange -> {
            String query = exchange.getRequestURI().getQuery();
            queries.add(String.valueOf(query));
            if (query != null) {
                try {
                    // Longer than the probe's 2 s request timeout: only a timeout that adds the wait survives it.
                    Thread.sleep(2500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            byte[] bytes = "{\"status\":\"ok\",\"bot_id\":\"BOT-1\",\"pid\":7}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
        int port = server.getAddress().getPort();
        assertTrue(probe.isHealthy("127.0.0.1", port, "BOT-1", Duration.ofSeconds(3)));
        assertTrue(probe.isHealthy("127.0.0.1", port, "BOT-1", Duration.ZERO));
        assertEquals(java.util.List.of("wait_ms=3000", "null"), queries, "no wait, no parameter");
    }

    @Test
    void startingBotOrForeignAnswerIsNotHealthy() throws IOException {
        AtomicInteger requests = new AtomicInteger();
        int port = serveHealth(503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"bot BOT-1 is starting\"}}",
                requests);
        assertFalse(probe.isHealthy("127.0.0.1", port, "BOT-1"));
        server.stop(0);
        port = serveHealth(200, "not json", requests);
        assertEquals(Optional.empty(), probe.health("127.0.0.1", port));
        server.stop(0);
        port = serveHealth(200, "{\"status\":\"ok\"}", requests);
        assertEquals(Optional.empty(), probe.health("127.0.0.1", port), "no bot_id");
    }

    @Test
    void stopIsPostedAndAClosedPortAnswersMinusOne() throws IOException {
        assertEquals(-1, probe.requestStop("127.0.0.1", closedPort()));
    }
}
