package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveToken;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.registry.ServiceRegistry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code status [BOT-ID] [--json]}: the registry's view of the bots, with each live bot's own
 * {@code /status} when it answers.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show the bots of the hive (registry entry plus the bot's live /status).")
public final class StatusCommand implements Callable<Integer> {

    @Mixin
    HiveOptions hiveOptions;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "BOT-ID", description = "One bot (default: all).")
    String botId;

    @Option(names = "--json", description = "Print JSON: one bot's entry, or {\"bots\":[...]}.")
    boolean json;

    @Override
    public Integer call() {
        DeiaConfig config = hiveOptions.config();
        ServiceRegistry registry = new JsonFileServiceRegistry(hiveOptions.layout(), config);
        List<BotRecord> bots = botId == null ? registry.list()
                : List.of(registry.get(botId).orElseThrow(() -> DeiaException.notFound("no bot %s in the registry", botId)));
        PrintWriter out = spec.commandLine().getOut();
        // A bot's /status needs the hive's token, read from the hive's 0600 token file (only when a
        // bot has a process to ask, so that looking at an empty hive creates nothing).
        String authorization = bots.stream().anyMatch(r -> r.pid() > 0 && r.port() > 0)
                ? HiveToken.loadOrCreate(hiveOptions.layout()).bearer() : null;
        if (json) {
            List<ObjectNode> entries = new ArrayList<>();
            for (BotRecord r : bots) {
                entries.add(withLive(r, authorization));
            }
            out.println(Json.write(botId == null ? Map.of("bots", entries) : entries.get(0)));
        } else if (bots.isEmpty()) {
            out.println("no bots in " + hiveOptions.layout().root());
        } else {
            for (BotRecord r : bots) {
                out.println(line(r, live(r, authorization)));
            }
        }
        out.flush();
        return 0;
    }

    private ObjectNode withLive(BotRecord r, String authorization) {
        ObjectNode node = Json.convert(r, ObjectNode.class);
        node.set("live", live(r, authorization));
        return node;
    }

    private static String line(BotRecord r, JsonNode live) {
        StringBuilder sb = new StringBuilder();
        String state = live != null && live.hasNonNull("state") ? live.get("state").asText() : r.state().id();
        sb.append(String.format("%-16s %-10s pid %-7d port %-5d profile %s", r.botId(), state, r.pid(), r.port(), r.profile()));
        if (r.project() != null) {
            sb.append(", project ").append(r.project());
        }
        if (r.restarts() > 0) {
            sb.append(", restarts ").append(r.restarts());
        }
        if (live != null) {
            sb.append(", queue ").append(live.path("queue_depth").asInt())
                    .append(", done ").append(live.path("tasks_completed").asInt())
                    .append(", failed ").append(live.path("tasks_failed").asInt());
        } else if (r.state().isLive()) {
            sb.append(", not answering");
        }
        if (r.lastError() != null) {
            sb.append(", last error: ").append(r.lastError().replaceAll("\\s+", " "));
        }
        return sb.toString();
    }

    /** The bot's own {@code /status}, or null when it has no process or does not answer. */
    private static JsonNode live(BotRecord r, String authorization) {
        if (r.pid() <= 0 || r.port() <= 0) {
            return null;
        }
        try {
            HttpResponse<String> response = Http.CLIENT.send(HttpRequest.newBuilder(URI.create(r.url() + "/status"))
                    .timeout(Duration.ofSeconds(2)).header("Authorization", authorization).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? Json.read(response.body(), JsonNode.class, "status of " + r.botId()) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * Holder of the client, so that it is built on first use only: picocli instantiates every
     * subcommand when {@code Main} starts, and building an {@link HttpClient} initialises the TLS
     * stack (~250 classes), which every bot runner start would otherwise pay for.
     */
    private static final class Http {
        static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    }
}
