package io.deia.core.internal.launch;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveToken;
import io.deia.core.internal.io.Json;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

/**
 * The launcher's side of a bot's HTTP service: {@code GET /health} to know it is up and is the
 * bot we think it is, {@code POST /stop} (with the hive's token) to ask it to finish gracefully.
 * JDK client only (no Jetty in core).
 */
public final class BotProbe {
    private static final Duration CONNECT_TIMEOUT = Duration.ofMillis(500);

    private final HttpClient client;
    private final Duration requestTimeout;
    /** Null for a probe that only asks {@code /health}, which needs no token. */
    private final HiveToken token;

    /** A probe for {@code /health} only ({@link #requestStop} is then refused by the bot with 401). */
    public BotProbe(Duration requestTimeout) {
        this(requestTimeout, null);
    }

    /** A probe that sends {@code token} with {@code POST /stop}. */
    public BotProbe(Duration requestTimeout, HiveToken token) {
        this.requestTimeout = requestTimeout;
        this.token = token;
        this.client = HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    /**
     * What {@code /health} answered.
     *
     * @param botId the {@code bot_id} it reported
     * @param pid   the {@code pid} it reported (0 when absent)
     */
    public record Health(String botId, long pid) {
    }

    /**
     * Asks {@code GET /health} once. Empty when the port is closed, the answer is not 200, or the
     * body is not the health JSON.
     */
    public Optional<Health> health(String host, int port) {
        return health(host, port, Duration.ZERO);
    }

    /**
     * Asks {@code GET /health?wait_ms=…} once: a bot that is still starting answers when its start
     * ends or {@code wait} has passed (a bot without that parameter answers at once). Empty when
     * the port is closed, the answer is not 200, or the body is not the health JSON.
     */
    public Optional<Health> health(String host, int port, Duration wait) {
        if (!accepts(host, port)) {
            return Optional.empty();
        }
        String path = wait.isZero() ? "/health" : "/health?wait_ms=" + wait.toMillis();
        HttpRequest request = HttpRequest.newBuilder(uri(host, port, path))
                .timeout(requestTimeout.plus(wait)).GET().build();
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                return Optional.empty();
            }
            JsonNode body = Json.read(response.body(), JsonNode.class, "health of " + host + ":" + port);
            String botId = body.path("bot_id").asText(null);
            return botId == null ? Optional.empty() : Optional.of(new Health(botId, body.path("pid").asLong(0)));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** True when {@code /health} answers 200 naming {@code botId}. */
    public boolean isHealthy(String host, int port, String botId) {
        return isHealthy(host, port, botId, Duration.ZERO);
    }

    /** True when {@code /health}, waiting up to {@code wait} for a starting bot, answers 200 naming {@code botId}. */
    public boolean isHealthy(String host, int port, String botId, Duration wait) {
        return health(host, port, wait).map(h -> botId.equals(h.botId())).orElse(false);
    }

    /**
     * Sends {@code POST /stop}. Returns the HTTP status, or -1 when the bot did not answer (the
     * caller then goes on to signals).
     */
    public int requestStop(String host, int port) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(host, port, "/stop"))
                .timeout(requestTimeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{}"));
        if (token != null) {
            request.header("Authorization", token.bearer());
        }
        try {
            return client.send(request.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException | RuntimeException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * True when something accepts a TCP connection on {@code host:port}. Asked before every
     * {@code /health} request because a launcher polls each starting runner every 25 ms and a
     * runner spends most of its start with the port still closed: a refused plain connect costs
     * ~0.04 ms of CPU, a refused {@link HttpClient} request ~0.4-1.2 ms (measured on 2 cores), which
     * added up to 1.3-1.9 s of the launcher's CPU while ten runners started together on the same
     * two cores.
     */
    static boolean accepts(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) CONNECT_TIMEOUT.toMillis());
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static URI uri(String host, int port, String path) {
        return URI.create("http://" + host + ":" + port + path);
    }
}
