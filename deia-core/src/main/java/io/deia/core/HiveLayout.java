package io.deia.core;

import io.deia.core.internal.BotIds;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where everything lives inside a hive folder (default {@code ./.deia}). Every path a component
 * needs comes from here, so the layout is written down once:
 *
 * <pre>
 * .deia/
 *   hive/registry.json              service registry
 *   hive/tasks/&lt;BOT-ID&gt;/*.md        inbox: files renamed in whole
 *   hive/claimed/&lt;BOT-ID&gt;/          tasks a bot has claimed and not finished
 *   hive/staging/                   writers build task files here before renaming them in
 *   hive/responses/&lt;BOT-ID&gt;/        one response per task
 *   hive/archive/&lt;BOT-ID&gt;/          tasks done with
 *   hive/heartbeats/&lt;BOT-ID&gt;.json   last heartbeat
 *   hive/controls/&lt;BOT-ID&gt;-PAUSE    pause marker
 *   history/&lt;BOT-ID&gt;.jsonl          chat history
 *   bots/&lt;BOT-ID&gt;/workspace         the agent's working folder
 *   bots/&lt;BOT-ID&gt;/home              the agent's HOME and CLI config
 *   bot-logs/&lt;BOT-ID&gt;.log           the bot process's stdout/stderr
 *   token                           API token (mode 0600)
 * </pre>
 *
 * Methods taking a bot id validate it first ({@link BotIds#requireValid}), so no caller can build a
 * path from an unchecked id.
 */
public final class HiveLayout {
    private final Path root;

    public HiveLayout(Path root) {
        this.root = Objects.requireNonNull(root, "root").toAbsolutePath().normalize();
    }

    /** The hive folder itself ({@code .deia}). */
    public Path root() {
        return root;
    }

    public Path hiveDir() {
        return root.resolve("hive");
    }

    public Path registryFile() {
        return hiveDir().resolve("registry.json");
    }

    /** The lock file guarding read-modify-write of the registry across processes. */
    public Path registryLockFile() {
        return hiveDir().resolve("registry.lock");
    }

    public Path tasksRoot() {
        return hiveDir().resolve("tasks");
    }

    public Path inboxDir(String botId) {
        return tasksRoot().resolve(BotIds.requireValid(botId));
    }

    public Path claimedDir(String botId) {
        return hiveDir().resolve("claimed").resolve(BotIds.requireValid(botId));
    }

    /** Writers stage task files here, outside every inbox and on the same file system, then rename. */
    public Path stagingDir() {
        return hiveDir().resolve("staging");
    }

    public Path responsesDir(String botId) {
        return hiveDir().resolve("responses").resolve(BotIds.requireValid(botId));
    }

    public Path archiveDir(String botId) {
        return hiveDir().resolve("archive").resolve(BotIds.requireValid(botId));
    }

    /** The folder holding one {@code <BOT-ID>.json} heartbeat file per bot. */
    public Path heartbeatsDir() {
        return hiveDir().resolve("heartbeats");
    }

    public Path heartbeatFile(String botId) {
        return heartbeatsDir().resolve(BotIds.requireValid(botId) + ".json");
    }

    public Path controlsDir() {
        return hiveDir().resolve("controls");
    }

    public Path pauseFile(String botId) {
        return controlsDir().resolve(BotIds.requireValid(botId) + "-PAUSE");
    }

    public Path historyFile(String botId) {
        return root.resolve("history").resolve(BotIds.requireValid(botId) + ".jsonl");
    }

    public Path botDir(String botId) {
        return root.resolve("bots").resolve(BotIds.requireValid(botId));
    }

    public Path workspaceDir(String botId) {
        return botDir(botId).resolve("workspace");
    }

    public Path agentHomeDir(String botId) {
        return botDir(botId).resolve("home");
    }

    public Path botLogsDir() {
        return root.resolve("bot-logs");
    }

    public Path botLogFile(String botId) {
        return botLogsDir().resolve(BotIds.requireValid(botId) + ".log");
    }

    public Path tokenFile() {
        return root.resolve("token");
    }

    /** The default configuration file, read when no {@code --config} is given and it exists. */
    public Path defaultConfigFile() {
        return root.resolve("deia.json");
    }

    @Override
    public String toString() {
        return "HiveLayout[" + root + "]";
    }
}
