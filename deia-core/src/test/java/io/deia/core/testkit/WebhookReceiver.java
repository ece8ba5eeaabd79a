package io.deia.core.testkit;

import com.sun.net.httpserver.HttpServer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * A real HTTP receiver of webhook deliveries on 127.0.0.1 (the JDK's HttpServer): records every
 * request (headers and body), answers with a chosen status after a chosen delay, and can be taken
 * down and brought back on the same port, like a receiver that is restarted.
 */
public final class WebhookReceiver implements AutoCloseable {
    /** One request as received. */
    public record Delivery(String method, String path, Map<String, List<String>> headers, byte[] body) {
        public String header(String name) {
            for (Map.Entry<String, List<String>> e : headers.entrySet()) {
                if (e.getKey() != null && e.getKey().equalsIgnoreCase(name) && !e.getValue().isEmpty()) {
                    return e.getValue().get(0);
                }
            }
            return null;
        }

        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    private final Map<String, AtomicInteger> byEventId = new ConcurrentHashMap<>();
    private final AtomicInteger inProgress = new AtomicInteger();
    private final AtomicInteger maxInProgress = new AtomicInteger();
    private volatile IntSupplier status = () -> 200;
    private volatile long delayMs;
    private volatile String location;
    private HttpServer server;
    private java.util.concurrent.ExecutorService threads;
    private int port;

    /** Starts on a free port. */
    public static WebhookReceiver start() throws IOException {
        WebhookReceiver r = new WebhookReceiver();
        r.up();
        return r;
    }

    /** Listens (again) on its port; on a free one the first time. */
    public synchronized WebhookReceiver up() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 50);
        server.createContext("/", exchange -> {
            maxInProgress.accumulateAndGet(inProgress.incrementAndGet(), Math::max);
            try {
                handle(exchange);
            } finally {
                inProgress.decrementAndGet();
            }
        });
        threads = Executors.newCachedThreadPool();
        server.setExecutor(threads);
        server.start();
        port = server.getAddress().getPort();
        return this;
    }

    private void handle(com.sun.net.httpserver.HttpExchange exchange) throws IOException {
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readAllBytes();
            }
            Delivery d = new Delivery(exchange.getRequestMethod(), exchange.getRequestURI().getPath(),
                    Map.copyOf(exchange.getRequestHeaders()), body);
            deliveries.add(d);
            String id = d.header("X-Deia-Event-Id");
            if (id != null) {
                byEventId.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            }
            long delay = delayMs;
            if (delay > 0) {
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            int code = status.getAsInt();
            if (location != null) {
                exchange.getResponseHeaders().add("Location", location);
            }
            exchange.sendResponseHeaders(code, -1);
            exchange.close();
    }

    /** The most requests it was answering at the same time. */
    public int maxConcurrent() {
        return maxInProgress.get();
    }

    /** Stops listening: connections are refused until {@link #up()}. */
    public synchronized void down() {
        if (server != null) {
            server.stop(0);
            server = null;
            threads.shutdownNow();
        }
    }

    /** Answers every request with {@code code}. */
    public WebhookReceiver status(int code) {
        this.status = () -> code;
        return this;
    }

    /** Answers with whatever {@code codes} says at each request. */
    public WebhookReceiver status(IntSupplier codes) {
        this.status = codes;
        return this;
    }

    /** Waits this long before answering. */
    public WebhookReceiver delay(long ms) {
        this.delayMs = ms;
        return this;
    }

    /** Adds a {@code Location} header to every answer (for 3xx). */
    public WebhookReceiver location(String url) {
        this.location = url;
        return this;
    }

    public String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    public List<Delivery> deliveries() {
        return List.copyOf(deliveries);
    }

    /** How often each event id was received. */
    public Map<String, Integer> countsByEventId() {
        Map<String, Integer> out = new java.util.TreeMap<>();
        byEventId.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** True when {@code signature} is {@code sha256=<hex HMAC-SHA256 of body under secret>}, compared in constant time. */
    public static boolean signatureValid(String secret, byte[] body, String signature) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            String expected = "sha256=" + HexFormat.of().formatHex(mac.doFinal(body));
            return signature != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII),
                    signature.getBytes(StandardCharsets.US_ASCII));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        down();
    }
}
