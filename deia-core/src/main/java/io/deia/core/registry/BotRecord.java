package io.deia.core.registry;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.project.Project;

import java.time.Instant;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One bot's entry in the service registry: an immutable value. Change it through
 * {@link #toBuilder()}. In {@code registry.json} the fields are snake_case; {@code status} repeats
 * {@code state} for readers written against the original DEIA registry.
 *
 * @param botId          validated bot id
 * @param pid            runner process id, 0 before it is spawned
 * @param processStart   the runner's process start instant: with {@code pid} it identifies the process across pid reuse
 * @param host           address the bot's HTTP service binds (always 127.0.0.1 today)
 * @param port           the bot's HTTP port
 * @param state          life-cycle state
 * @param profile        the profile name it was launched with
 * @param agent          the agent type of that profile (claude-code, codex, gemini, command)
 * @param registeredAt   when this entry was first written
 * @param lastHeartbeat  last heartbeat written by the runner
 * @param restarts       how many times the supervisor restarted it
 * @param lastError      the last failure reason, if any; kept after the bot recovers (with its
 *                       restart count it tells that something happened)
 * @param lastExitCode   the runner's last exit code, if known
 * @param launcherPid    the process that reserved this entry to launch or restart the bot, 0 when
 *                       unknown (written by the runner itself, or by an older version)
 * @param launcherStart  that process's start instant: with {@code launcherPid} it tells whether the
 *                       launcher still runs, so a launch it cannot finish is not waited for
 * @param wanted         the desired state: true from a launch until an explicit stop or a spent
 *                       restart budget. Any controller brings a wanted bot back to running (see
 *                       {@code BotLauncher#reconcile()}); an entry is never reaped while it is true
 * @param lastErrorAt    when {@code lastError} was recorded; the builder stamps it whenever the
 *                       error changes, unless it is given explicitly
 * @param project        the configured project the bot works on (its git worktree), or null for a bot
 *                       in its private workspace; kept through restarts and adoptions
 * @param node           the machine (node name) the bot runs on in a multi-host hive, or null on the
 *                       one-machine file backend; pids and ports mean something only on their node
 */
public record BotRecord(
        String botId,
        long pid,
        Instant processStart,
        String host,
        int port,
        BotState state,
        String profile,
        String agent,
        Instant registeredAt,
        Instant lastHeartbeat,
        int restarts,
        String lastError,
        Integer lastExitCode,
        long launcherPid,
        Instant launcherStart,
        boolean wanted,
        Instant lastErrorAt,
        String project,
        String node) {

    /** A node name: letters, digits, '_' and '-' (it becomes a NATS subject token and KV key part). */
    public static final String NODE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

    private static final Pattern PROJECT_NAME = Pattern.compile(Project.NAME_PATTERN);
    private static final Pattern NODE_NAME = Pattern.compile(NODE_PATTERN);

    public BotRecord {
        BotIds.requireValid(botId);
        Objects.requireNonNull(state, "state");
        // A project name becomes a folder name and a runner argument: a damaged entry must not carry a path.
        if (project != null && !PROJECT_NAME.matcher(project).matches()) {
            throw new IllegalArgumentException("project name '" + project + "' is invalid; expected " + Project.NAME_PATTERN);
        }
        if (node != null && !NODE_NAME.matcher(node).matches()) {
            throw new IllegalArgumentException("node name '" + node + "' is invalid; expected " + NODE_PATTERN);
        }
        if (host == null) {
            host = "127.0.0.1";
        }
    }

    /**
     * The same value as the {@code state} field: kept for readers of the original DEIA registry.
     * Written to JSON as {@code status}; ignored when reading (the {@code state} field wins).
     */
    @JsonProperty(value = "status", access = JsonProperty.Access.READ_ONLY)
    public String status() {
        return state.id();
    }

    /**
     * The base URL of the bot's HTTP service, e.g. {@code http://127.0.0.1:8101}. Not written to JSON:
     * it is derived from {@code host} and {@code port}, and a stored copy could only disagree with them.
     */
    @JsonIgnore
    public String url() {
        return "http://" + host + ":" + port;
    }

    /**
     * True when this entry names its launcher and that process no longer runs (gone, or its pid now
     * belongs to another process): nobody will finish a launch or restart it began.
     */
    @JsonIgnore
    public boolean launcherGone() {
        return launcherPid > 0 && !ProcessTrees.isSameProcessAlive(launcherPid, launcherStart);
    }

    /** True when this entry names its launcher and that process runs (this process included). */
    @JsonIgnore
    public boolean launcherRuns() {
        return launcherPid > 0 && !launcherGone();
    }

    public static Builder builder(String botId) {
        return new Builder().botId(botId);
    }

    public Builder toBuilder() {
        return new Builder().botId(botId).pid(pid).processStart(processStart).host(host).port(port).state(state)
                .profile(profile).agent(agent).registeredAt(registeredAt).lastHeartbeat(lastHeartbeat)
                .restarts(restarts).lastError(lastError).lastExitCode(lastExitCode)
                .launcherPid(launcherPid).launcherStart(launcherStart).wanted(wanted).project(project).node(node)
                .keepLastError(lastError, lastErrorAt);
    }

    /** Builder for {@link BotRecord}; {@code state} defaults to {@link BotState#STARTING}. */
    public static final class Builder {
        private static final long SELF_PID = ProcessHandle.current().pid();
        private static final Instant SELF_START = ProcessTrees.startInstant(SELF_PID).orElse(null);

        private String botId;
        private long pid;
        private Instant processStart;
        private String host = "127.0.0.1";
        private int port;
        private BotState state = BotState.STARTING;
        private String profile;
        private String agent;
        private Instant registeredAt;
        private Instant lastHeartbeat;
        private int restarts;
        private String lastError;
        private Integer lastExitCode;
        private long launcherPid;
        private Instant launcherStart;
        private boolean wanted;
        private String previousError;
        private Instant lastErrorAt;
        private boolean lastErrorAtGiven;
        private String project;
        private String node;

        public Builder botId(String v) { this.botId = v; return this; }
        public Builder pid(long v) { this.pid = v; return this; }
        public Builder processStart(Instant v) { this.processStart = v; return this; }
        public Builder host(String v) { this.host = v; return this; }
        public Builder port(int v) { this.port = v; return this; }
        public Builder state(BotState v) { this.state = v; return this; }
        public Builder profile(String v) { this.profile = v; return this; }
        public Builder agent(String v) { this.agent = v; return this; }
        public Builder registeredAt(Instant v) { this.registeredAt = v; return this; }
        public Builder lastHeartbeat(Instant v) { this.lastHeartbeat = v; return this; }
        public Builder restarts(int v) { this.restarts = v; return this; }
        public Builder lastError(String v) { this.lastError = v; return this; }
        public Builder lastExitCode(Integer v) { this.lastExitCode = v; return this; }
        public Builder launcherPid(long v) { this.launcherPid = v; return this; }
        public Builder launcherStart(Instant v) { this.launcherStart = v; return this; }
        public Builder wanted(boolean v) { this.wanted = v; return this; }
        /** The configured project the bot works on, or null for none. */
        public Builder project(String v) { this.project = v; return this; }
        /** The node (machine) the bot runs on in a multi-host hive, or null. */
        public Builder node(String v) { this.node = v; return this; }
        /** Sets the error's time explicitly (reading a stored entry); otherwise a new error is stamped now. */
        public Builder lastErrorAt(Instant v) { this.lastErrorAt = v; this.lastErrorAtGiven = true; return this; }

        private Builder keepLastError(String error, Instant at) {
            this.previousError = error;
            this.lastErrorAt = at;
            return this;
        }

        /** Records the calling process as the launcher responsible for the bot. */
        public Builder launcherIsThisProcess() {
            this.launcherPid = SELF_PID;
            this.launcherStart = SELF_START;
            return this;
        }

        public BotRecord build() {
            Instant errorAt = lastErrorAt;
            if (!lastErrorAtGiven && !Objects.equals(lastError, previousError)) {
                // Milliseconds: the precision the registry file keeps, so a record reads back equal.
                errorAt = lastError == null ? null : Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
            }
            return new BotRecord(botId, pid, processStart, host, port, state, profile, agent, registeredAt,
                    lastHeartbeat, restarts, lastError, lastExitCode, launcherPid, launcherStart, wanted, errorAt, project, node);
        }
    }
}
