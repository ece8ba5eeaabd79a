package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.io.Json;
import io.deia.core.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * Keeps track of the agent process a bot runs, so that an agent whose bot runner died (kill -9,
 * OOM) does not live on: agents run in their own session (setsid), so they are neither the dead
 * runner's descendants nor in its process group, and would otherwise go on working beside the
 * restarted bot, which retries the same task.
 *
 * <p>The running agent's pid and start instant are kept in {@code bots/<BOT-ID>/agent-process.json}.
 * A runner starting up, and a launcher that sees a runner exit, end whatever that file names if it
 * is still the same process. The file is replaced atomically but not fsynced: it only has to
 * survive the death of a process, and after a power cut no agent is left running anyway.
 */
public final class AgentLeftovers {
    private static final Logger log = LoggerFactory.getLogger(AgentLeftovers.class);

    private AgentLeftovers() {
    }

    /** Where a bot's running agent is recorded. */
    public static Path recordFile(HiveLayout hive, String botId) {
        return hive.botDir(botId).resolve("agent-process.json");
    }

    /** Records {@code process} as the bot's running agent. */
    static void record(Path file, ProcessHandle process) {
        Instant start = process.info().startInstant().orElse(null);
        String json = Json.write(Map.of("pid", process.pid(), "process_start", start == null ? "" : Json.formatInstant(start)));
        try {
            Files.createDirectories(file.getParent());
            Path temp = file.resolveSibling(file.getFileName() + ".tmp-" + process.pid());
            Files.writeString(temp, json, StandardCharsets.UTF_8);
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn("cannot record agent pid {} in {}: {}", process.pid(), file, e.toString());
        }
    }

    /** Forgets {@code pid} as the running agent (only if the file still names it). */
    static void forget(Path file, long pid) {
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8);
            if (Json.readTree(text, file.toString()).path("pid").asLong() == pid) {
                Files.deleteIfExists(file);
            }
        } catch (IOException | RuntimeException e) {
            // Nothing recorded, or already replaced by the next agent: nothing to forget.
        }
    }

    /**
     * Ends the agent recorded for {@code botId} and its whole process group, when that process
     * still runs (same pid and start instant), then removes the record. Call it only when no runner
     * of this bot is alive (a runner starting up, or after its exit).
     *
     * @return true when a leftover agent was found and ended
     */
    public static boolean endLeftover(HiveLayout hive, String botId) {
        Path file = recordFile(hive, botId);
        if (!Files.exists(file)) {
            return false;
        }
        try {
            var node = Json.readTree(Files.readString(file, StandardCharsets.UTF_8), file.toString());
            long pid = node.path("pid").asLong();
            String start = node.path("process_start").asText("");
            boolean alive = pid > 0 && ProcessTrees.isSameProcessAlive(pid, start.isEmpty() ? null : Instant.parse(start));
            if (alive) {
                ProcessHandle agent = ProcessHandle.of(pid).orElseThrow();
                log.warn("[{}] agent pid {} outlived its bot runner; ending its process group", botId, pid);
                ProcessTrees.terminate(agent, Duration.ofSeconds(2));
            }
            Files.deleteIfExists(file);
            return alive;
        } catch (IOException | RuntimeException e) {
            log.warn("[{}] cannot read the agent record {}: {}", botId, file, e.toString());
            return false;
        }
    }
}
