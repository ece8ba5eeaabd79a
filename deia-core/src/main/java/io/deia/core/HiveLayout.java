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

    /**
     * The layout of the hive folder {@code root}; nothing is created or checked here.
     *
     * @param root the hive folder, made absolute and normalised
     */
    public HiveLayout(Path root) {
        this.root = Objects.requireNonNull(root, "root").toAbsolutePath().normalize();
    }

    /** The hive folder itself ({@code .deia}). */
    public Path root() {
        return root;
    }

    /** The shared state folder ({@code hive/}) holding registry, inboxes, responses and heartbeats. */
    public Path hiveDir() {
        return root.resolve("hive");
    }

    /** The service registry file ({@code hive/registry.json}). */
    public Path registryFile() {
        return hiveDir().resolve("registry.json");
    }

    /** The lock file guarding read-modify-write of the registry across processes. */
    public Path registryLockFile() {
        return hiveDir().resolve("registry.lock");
    }

    /** The folder holding one inbox folder per bot ({@code hive/tasks}). */
    public Path tasksRoot() {
        return hiveDir().resolve("tasks");
    }

    /** The task inbox of a bot: a task is a {@code .md} file renamed in whole into it. */
    public Path inboxDir(String botId) {
        return tasksRoot().resolve(BotIds.requireValid(botId));
    }

    /** Where a bot keeps the tasks it has claimed and not yet finished. */
    public Path claimedDir(String botId) {
        return hiveDir().resolve("claimed").resolve(BotIds.requireValid(botId));
    }

    /** Writers stage task files here, outside every inbox and on the same file system, then rename. */
    public Path stagingDir() {
        return hiveDir().resolve("staging");
    }

    /** Where a bot writes one response file per task. */
    public Path responsesDir(String botId) {
        return hiveDir().resolve("responses").resolve(BotIds.requireValid(botId));
    }

    /** Where a bot moves the task files it is done with. */
    public Path archiveDir(String botId) {
        return hiveDir().resolve("archive").resolve(BotIds.requireValid(botId));
    }

    /** The folder holding one {@code <BOT-ID>.json} heartbeat file per bot. */
    public Path heartbeatsDir() {
        return hiveDir().resolve("heartbeats");
    }

    /** The last heartbeat a bot wrote. */
    public Path heartbeatFile(String botId) {
        return heartbeatsDir().resolve(BotIds.requireValid(botId) + ".json");
    }

    /** The folder of control markers (such as pause files). */
    public Path controlsDir() {
        return hiveDir().resolve("controls");
    }

    /** The marker whose presence pauses a bot's task monitor. */
    public Path pauseFile(String botId) {
        return controlsDir().resolve(BotIds.requireValid(botId) + "-PAUSE");
    }

    /**
     * The settings {@code serve} publishes for every runner of the hive (limits, budgets, prices,
     * webhook event types), rewritten at start and by {@code POST /api/config/reload}.
     */
    public Path settingsFile() {
        return hiveDir().resolve("settings.json");
    }

    /** The folder of turn slots and of the line of turns waiting for one. */
    public Path slotsDir() {
        return hiveDir().resolve("slots");
    }

    /** The folder of the bots' ledgers. */
    public Path ledgerDir() {
        return hiveDir().resolve("ledger");
    }

    /** A bot's ledger: one JSON line per agent turn (cost, tokens, duration) and per finished task. */
    public Path ledgerFile(String botId) {
        return ledgerDir().resolve(BotIds.requireValid(botId) + ".jsonl");
    }

    /** The webhook outbox: one file per event not yet delivered to every webhook that wants it. */
    public Path webhookOutboxDir() {
        return hiveDir().resolve("webhooks").resolve("outbox");
    }

    /** Webhook deliveries given up on after their retry window. */
    public Path webhookDeadDir() {
        return hiveDir().resolve("webhooks").resolve("dead");
    }

    /** The chat history of a bot, one JSON event per line. */
    public Path historyFile(String botId) {
        return root.resolve("history").resolve(BotIds.requireValid(botId) + ".jsonl");
    }

    /** The private folder of a bot (workspace, agent home, runner lock). */
    public Path botDir(String botId) {
        return root.resolve("bots").resolve(BotIds.requireValid(botId));
    }

    /** The working folder the bot's agent runs in. */
    public Path workspaceDir(String botId) {
        return botDir(botId).resolve("workspace");
    }

    /** The {@code HOME} of the bot's agent, where its CLI keeps config and sessions. */
    public Path agentHomeDir(String botId) {
        return botDir(botId).resolve("home");
    }

    /** The folder holding one stdout/stderr log per bot process. */
    public Path botLogsDir() {
        return root.resolve("bot-logs");
    }

    /** The stdout/stderr log of a bot process. */
    public Path botLogFile(String botId) {
        return botLogsDir().resolve(BotIds.requireValid(botId) + ".log");
    }

    /** The API token file (mode 0600) the controller and every bot share. */
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
