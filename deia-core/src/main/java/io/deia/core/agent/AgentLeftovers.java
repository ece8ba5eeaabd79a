package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Finds and ends agent processes whose bot runner died (kill -9, OOM), so they do not live on:
 * agents run in their own session (setsid), so they are neither the dead runner's descendants nor
 * in its process group, and would otherwise go on working beside the restarted bot, which retries
 * the same task — the same task would then run twice at the same time.
 *
 * <p>Two ways to find them, because neither alone closes every gap:
 * <ul>
 *   <li><b>An environment mark</b> (Linux): every agent is started with {@link #OWNER_ENV} naming the
 *       bot's record file (unique per hive and bot) and {@link #RUNNER_ENV} naming the runner that
 *       started it (pid and start instant). The mark is in place from the agent's first instruction
 *       — there is no window between spawn and record — and the agent's own children inherit it.
 *       A leftover is a process marked for this bot whose runner is no longer alive.</li>
 *   <li><b>A record file</b> {@code bots/<BOT-ID>/agent-process.json} with the last agent's pid and
 *       start instant, on systems without {@code /proc} only. It is replaced for each agent and
 *       never deleted on the agent's exit: deleting it from the exit callback raced with the next
 *       agent's record and could erase it. A stale record is harmless, the start instant must
 *       match. It leaves a short window between spawn and record, which the mark does not.</li>
 * </ul>
 * The record is replaced atomically but not fsynced: after a power cut no agent is left running.
 */
public final class AgentLeftovers {
    /** Environment variable naming the bot an agent works for (the bot's record file path). */
    public static final String OWNER_ENV = "DEIA_AGENT_OF";
    /** Environment variable naming the runner that started an agent: {@code <pid>:<start epoch ms>}. */
    public static final String RUNNER_ENV = "DEIA_AGENT_RUNNER";

    private static final Logger log = LoggerFactory.getLogger(AgentLeftovers.class);
    private static final Path PROC = Path.of("/proc");
    /** Whether agents are found by their environment mark; otherwise by the record file. */
    static final boolean BY_MARK = Files.isDirectory(PROC.resolve("self"));
    private static final Duration GRACE = Duration.ofSeconds(2);
    /** This process as {@link #RUNNER_ENV} names it; fixed for its lifetime, so read once, not per agent. */
    private static final String THIS_RUNNER = ProcessHandle.current().pid() + ":"
            + ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli).orElse(0L);

    private AgentLeftovers() {
    }

    /** Where a bot's running agent is recorded. */
    public static Path recordFile(HiveLayout hive, String botId) {
        return hive.botDir(botId).resolve("agent-process.json");
    }

    /** The environment mark for an agent started now by this process for the bot of {@code recordFile}. */
    static Map<String, String> mark(Path recordFile) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put(OWNER_ENV, recordFile.toAbsolutePath().normalize().toString());
        env.put(RUNNER_ENV, THIS_RUNNER);
        return env;
    }

    /** Records {@code process} as the bot's running agent where it cannot be found by its mark. */
    static void recordUnlessMarked(Path file, ProcessHandle process) {
        if (!BY_MARK) {
            record(file, process);
        }
    }

    /** Records {@code process} as the bot's running agent. */
    static void record(Path file, ProcessHandle process) {
        Instant start = process.info().startInstant().orElse(null);
        if (start == null) {
            return; // already gone: nothing to end later, and a record without a start could hit a reused pid
        }
        String json = Json.write(Map.of("pid", process.pid(), "process_start", Json.formatInstant(start)));
        try {
            AtomicFiles.writeUnsynced(file, json.getBytes(StandardCharsets.UTF_8));
        } catch (DeiaException e) {
            log.warn("cannot record agent pid {} in {}: {}", process.pid(), file, e.toString());
        }
    }

    /**
     * Ends every agent of {@code botId} whose runner is gone, with its whole process group, and
     * removes the record. With {@code /proc} it is safe to call while a runner of this bot is alive:
     * its own agents carry its live pid and are left alone; without it, call it only when no runner
     * of this bot is alive (a runner starting up, or after its exit).
     *
     * @return true when at least one leftover agent was found and ended
     */
    public static boolean endLeftover(HiveLayout hive, String botId) {
        return endLeftover(recordFile(hive, botId), botId, BY_MARK);
    }

    /**
     * True when an agent of the bot outlives its runner right now (its runner was killed and no new
     * runner has ended it yet). The turn limits count such an agent's slot as still in use.
     */
    public static boolean hasLeftover(HiveLayout hive, String botId) {
        Path file = recordFile(hive, botId);
        return BY_MARK ? !markedOrphans(file).isEmpty() : recordedAgent(file).isPresent();
    }

    /** {@link #endLeftover(HiveLayout, String)} with the way of finding agents chosen by the caller. */
    static boolean endLeftover(Path file, String botId, boolean byMark) {
        Map<Long, ProcessHandle> leftovers = new LinkedHashMap<>();
        if (byMark) {
            markedOrphans(file).forEach(h -> leftovers.put(h.pid(), h));
        } else {
            recordedAgent(file).ifPresent(h -> leftovers.put(h.pid(), h));
        }
        for (ProcessHandle agent : leftovers.values()) {
            log.warn("[{}] agent pid {} outlived its bot runner; ending its process group", botId, agent.pid());
            if (!ProcessTrees.terminate(agent, GRACE)) {
                log.error("[{}] leftover agent pid {} is still running after SIGKILL", botId, agent.pid());
            }
        }
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("[{}] cannot remove the agent record {}: {}", botId, file, e.toString());
        }
        return !leftovers.isEmpty();
    }

    /** Live processes marked as agents of the bot of {@code recordFile} whose runner is not alive. */
    static List<ProcessHandle> markedOrphans(Path recordFile) {
        String owner = OWNER_ENV + "=" + recordFile.toAbsolutePath().normalize();
        long self = ProcessHandle.current().pid();
        List<ProcessHandle> found = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(h -> {
            if (h.pid() == self) {
                return;
            }
            List<String> env = environment(h.pid());
            if (!env.contains(owner)) {
                return;
            }
            String runner = env.stream().filter(e -> e.startsWith(RUNNER_ENV + "=")).findFirst()
                    .map(e -> e.substring(RUNNER_ENV.length() + 1)).orElse("");
            if (!runnerAlive(runner) && ProcessTrees.isRunning(h)) {
                found.add(h);
            }
        });
        return found;
    }

    /** The environment a process started with, from /proc; empty when it cannot be read. */
    private static List<String> environment(long pid) {
        try {
            byte[] raw = Files.readAllBytes(PROC.resolve(Long.toString(pid)).resolve("environ"));
            return List.of(new String(raw, StandardCharsets.UTF_8).split("\0"));
        } catch (IOException | RuntimeException e) {
            return List.of(); // gone meanwhile, or another user's process
        }
    }

    private static boolean runnerAlive(String mark) {
        int colon = mark.indexOf(':');
        if (colon <= 0) {
            return false;
        }
        try {
            long pid = Long.parseLong(mark.substring(0, colon));
            long startMs = Long.parseLong(mark.substring(colon + 1));
            return ProcessTrees.isSameProcessAlive(pid, startMs == 0 ? null : Instant.ofEpochMilli(startMs));
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static Optional<ProcessHandle> recordedAgent(Path file) {
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        try {
            var node = Json.read(Files.readString(file, StandardCharsets.UTF_8), JsonNode.class, file.toString());
            long pid = node.path("pid").asLong();
            String start = node.path("process_start").asText("");
            if (pid <= 0 || start.isEmpty() || pid == ProcessHandle.current().pid()
                    || !ProcessTrees.isSameProcessAlive(pid, Instant.parse(start))) {
                return Optional.empty();
            }
            return ProcessHandle.of(pid);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot read the agent record {}: {}", file, e.toString());
            return Optional.empty();
        }
    }
}
