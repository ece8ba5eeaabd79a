package io.deia.core.chat;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.agent.TurnResult;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.registry.BotRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The router's HTTP client to bot ports: every request carries the hive's token (a bot port obeys
 * nobody without it), and a bot's failure comes back as a {@link DeiaException} with the bot's own
 * error code, or {@code BAD_GATEWAY} when the bot does not answer properly.
 */
final class BotClient {
    private static final Logger log = LoggerFactory.getLogger(BotClient.class);

    private final HttpClient http;
    /** {@code Bearer <token>}: the value of every request's {@code Authorization} header. */
    private final String authorization;

    BotClient(Duration connectTimeout, String authorization) {
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(connectTimeout).build();
        this.authorization = authorization;
    }

    private HttpRequest.Builder request(BotRecord rec, String path) {
        return HttpRequest.newBuilder(URI.create(rec.url() + path)).header("Authorization", authorization);
    }

    /** {@code POST /interrupt}: whether a turn was running. */
    boolean interrupt(BotRecord rec) {
        HttpRequest req = request(rec, "/interrupt").timeout(Duration.ofSeconds(10))
                .POST(HttpRequest.BodyPublishers.noBody()).build();
        HttpResponse<String> resp = send(rec, req, HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            throw errorFrom(rec.botId(), resp.statusCode(), resp.body());
        }
        return Json.read(resp.body(), JsonNode.class, "interrupt answer").path("interrupted").asBoolean();
    }

    /** {@code GET /permissions}: the bot's answer as it wrote it (JSON text). */
    String permissions(BotRecord rec) {
        HttpRequest req = request(rec, "/permissions").timeout(Duration.ofSeconds(10)).GET().build();
        return jsonAnswer(rec, send(rec, req, HttpResponse.BodyHandlers.ofString()), "permissions");
    }

    /**
     * {@code POST /permissions/{request_id}} with {@code body}: the bot's answer as it wrote it (JSON
     * text). The id is checked here as well, so nothing but a request id ever reaches the bot's path.
     */
    String answerPermission(BotRecord rec, String requestId, Map<String, Object> body) {
        if (!PermissionBroker.isRequestId(requestId)) {
            throw DeiaException.invalid("request id must be perm- and 24 hex digits");
        }
        HttpRequest req = request(rec, "/permissions/" + requestId).timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body))).build();
        return jsonAnswer(rec, send(rec, req, HttpResponse.BodyHandlers.ofString()), "permission answer");
    }

    /** A 200 answer whose body is a JSON object, as text; the bot's error otherwise. */
    private static String jsonAnswer(BotRecord rec, HttpResponse<String> resp, String what) {
        if (resp.statusCode() != 200) {
            throw errorFrom(rec.botId(), resp.statusCode(), resp.body());
        }
        try {
            if (Json.read(resp.body(), JsonNode.class, what).isObject()) {
                return resp.body();
            }
        } catch (DeiaException e) {
            // reported below
        }
        throw DeiaException.badGateway("bot %s sent a %s that is not a JSON object", rec.botId(), what);
    }

    /** {@code GET /status}: the status object as the bot wrote it (JSON text), or empty when the bot did not answer with one in time. */
    CompletableFuture<Optional<String>> status(BotRecord rec, Duration timeout) {
        HttpRequest req = request(rec, "/status").timeout(timeout).GET().build();
        return http.sendAsync(req, HttpResponse.BodyHandlers.ofString())
                .thenApply(resp -> resp.statusCode() == 200
                        && Json.read(resp.body(), JsonNode.class, "status of " + rec.botId()).isObject()
                        ? Optional.of(resp.body()) : Optional.<String>empty())
                .exceptionally(e -> {
                    log.debug("[{}] /status did not answer: {}", rec.botId(), e.toString());
                    return Optional.empty();
                });
    }

    /** {@code GET /events}, kept open: its lines as they come; the caller closes the stream. */
    Stream<String> events(BotRecord rec, long after) throws IOException, InterruptedException {
        HttpRequest req = request(rec, "/events" + (after >= 0 ? "?after=" + after : "")).GET().build();
        HttpResponse<Stream<String>> resp = http.send(req, HttpResponse.BodyHandlers.ofLines());
        if (resp.statusCode() != 200) {
            resp.body().close();
            throw new IOException("GET /events answered HTTP " + resp.statusCode());
        }
        return resp.body();
    }

    /**
     * {@code POST /message?stream=true}: publishes the turn's {@code delta} and {@code agent} events
     * as the bot streams them and returns the turn's result.
     */
    TurnResult message(BotRecord rec, String text, String msgId, ChatListener publish) {
        String botId = rec.botId();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("text", text);
        body.put("client_msg_id", msgId);
        HttpRequest req = request(rec, "/message?stream=true").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body))).build();
        HttpResponse<Stream<String>> resp = send(rec, req, HttpResponse.BodyHandlers.ofLines());
        try (Stream<String> lines = resp.body()) {
            if (resp.statusCode() != 200) {
                throw errorFrom(botId, resp.statusCode(), lines.collect(Collectors.joining("\n")));
            }
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                String line = it.next();
                if (line.isBlank()) {
                    continue;
                }
                JsonNode event = parseLine(botId, line);
                switch (event.path("type").asText("")) {
                    case "text_delta" -> publish.onEvent(ChatEvent.of(ChatEvent.DELTA, botId, "client_msg_id", msgId,
                            "text", event.path("text").asText("")));
                    case "result" -> {
                        return toResult(botId, event.get("result"));
                    }
                    default -> publish.onEvent(ChatEvent.of(ChatEvent.AGENT, botId, "client_msg_id", msgId,
                            "event", event));
                }
            }
        } catch (UncheckedIOException e) {
            throw DeiaException.badGateway("the stream from bot %s broke before the reply: %s", botId, e.getCause());
        }
        throw DeiaException.badGateway("bot %s ended its stream without a result", botId);
    }

    private <T> HttpResponse<T> send(BotRecord rec, HttpRequest req, HttpResponse.BodyHandler<T> handler) {
        try {
            return http.send(req, handler);
        } catch (IOException e) {
            throw notAnswering(rec, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while calling bot %s", rec.botId());
        }
    }

    private static JsonNode parseLine(String botId, String line) {
        try {
            return Json.read(line, JsonNode.class, "stream line");
        } catch (DeiaException e) {
            throw DeiaException.badGateway("bot %s sent a stream line that is not JSON: %s", botId, e.getMessage());
        }
    }

    private static TurnResult toResult(String botId, JsonNode node) {
        if (node == null || !node.isObject()) {
            throw DeiaException.badGateway("bot %s sent a result event without a result", botId);
        }
        try {
            return Json.convert(node, TurnResult.class);
        } catch (RuntimeException e) {
            throw DeiaException.badGateway("bot %s sent a result that cannot be read: %s", botId, e.getMessage());
        }
    }

    /** The bot's own JSON error, kept with its code; anything else is a bad gateway. */
    private static DeiaException errorFrom(String botId, int status, String body) {
        try {
            JsonNode err = Json.read(body, JsonNode.class, "error body").path("error");
            if (err.isObject() && err.hasNonNull("code")) {
                ErrorCode code = ErrorCode.fromId(err.path("code").asText());
                return new DeiaException(code, "bot " + botId + ": " + err.path("message").asText(""));
            }
        } catch (DeiaException e) {
            // not a JSON error body; reported below with the status
        }
        return DeiaException.badGateway("bot %s answered HTTP %d", botId, status);
    }

    private static DeiaException notAnswering(BotRecord rec, IOException e) {
        String reason;
        if (e instanceof HttpConnectTimeoutException) {
            reason = "connecting timed out";
        } else if (e instanceof ConnectException) {
            reason = "connection refused";
        } else if (e instanceof HttpTimeoutException) {
            reason = "no answer in time";
        } else {
            reason = e.toString();
        }
        return new DeiaException(ErrorCode.BAD_GATEWAY,
                "bot " + rec.botId() + " is registered at " + rec.url() + " but does not answer: " + reason, e);
    }
}
