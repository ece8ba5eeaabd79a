package io.deia.core.config;

import io.deia.core.DeiaException;
import io.deia.core.project.Project;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The whole configuration of a hive: profiles plus limits. Read once from a JSON file
 * ({@code deia.json}), validated eagerly, then immutable. Example:
 *
 * <pre>{@code
 * {
 *   "ports": {"from": 8101, "to": 8299},
 *   "profiles": {
 *     "echo":   {"agent": "command", "executable": "/bin/cat"},
 *     "claude": {"agent": "claude-code", "model": "sonnet", "permission_mode": "acceptEdits",
 *                "secret_env": {"ANTHROPIC_API_KEY": "MY_ANTHROPIC_KEY"}}
 *   }
 * }
 * }</pre>
 *
 * @param ports              the range bot ports are allocated from (inclusive)
 * @param heartbeatIntervalS how often a bot runner writes its heartbeat (15)
 * @param heartbeatTtlS      a live-state entry whose heartbeat is older than this is stale (45)
 * @param maxTaskBytes       task files larger than this are rejected (1 MiB)
 * @param maxMessageBytes    chat messages larger than this are refused with 413 (64 KiB)
 * @param maxBodyBytes       HTTP request bodies larger than this are refused with 413 (1 MiB + 64 KiB)
 * @param profiles           profiles by name
 * @param historyMaxBytes    a bot's chat history file ({@code history/<BOT-ID>.jsonl}) that would grow
 *                           past this is renamed to {@code .jsonl.1} (replacing the older one) and a
 *                           new file started (8 MiB; at least 4096)
 * @param projects           git repositories bots can be launched on, by name (see {@link Project}); none by default
 * @param maxConcurrentTurns at most this many agent turns run at once in the whole hive, or null for no
 *                           limit; a bot whose next turn would exceed it waits in state {@code queued}
 * @param budget             the hive-wide spending cap ({@link Budget}), or null for none
 * @param webhooks           where events are sent ({@link Webhook}); none by default
 * @param backend            where the hive's shared state lives ({@link Backend}); the hive folder by default
 */
public record DeiaConfig(PortRange ports, Integer heartbeatIntervalS, Integer heartbeatTtlS, Integer maxTaskBytes,
                         Integer maxMessageBytes, Integer maxBodyBytes, Map<String, Profile> profiles,
                         Integer historyMaxBytes, Map<String, Project> projects, Integer maxConcurrentTurns,
                         Budget budget, java.util.List<Webhook> webhooks, Backend backend) {
    /** Default of {@link #historyMaxBytes()}. */
    public static final int DEFAULT_HISTORY_MAX_BYTES = 8 * 1024 * 1024;

    public DeiaConfig {
        if (ports == null) {
            ports = PortRange.DEFAULT;
        }
        // Each beat is a durable registry write, the main cost of an idle runner; a dead runner is noticed
        // by its lock (runner.lock), not by a missed beat, so a slow beat delays nothing a user waits for.
        heartbeatIntervalS = heartbeatIntervalS == null ? 15 : heartbeatIntervalS;
        heartbeatTtlS = heartbeatTtlS == null ? 45 : heartbeatTtlS;
        maxTaskBytes = maxTaskBytes == null ? 1024 * 1024 : maxTaskBytes;
        maxMessageBytes = maxMessageBytes == null ? 64 * 1024 : maxMessageBytes;
        maxBodyBytes = maxBodyBytes == null ? maxTaskBytes + 64 * 1024 : maxBodyBytes;
        historyMaxBytes = historyMaxBytes == null ? DEFAULT_HISTORY_MAX_BYTES : historyMaxBytes;
        if (historyMaxBytes < 4096) {
            throw new IllegalArgumentException("history_max_bytes must be at least 4096, was " + historyMaxBytes);
        }
        Map<String, Profile> named = new LinkedHashMap<>();
        if (profiles != null) {
            profiles.forEach((name, p) -> named.put(name, p.withName(name)));
        }
        profiles = java.util.Collections.unmodifiableMap(named);
        Map<String, Project> namedProjects = new LinkedHashMap<>();
        if (projects != null) {
            projects.forEach((name, p) -> {
                if (p == null) {
                    throw new IllegalArgumentException("project " + name + " has no settings");
                }
                namedProjects.put(name, p.withName(name));
            });
        }
        projects = java.util.Collections.unmodifiableMap(namedProjects);
        if (maxConcurrentTurns != null && maxConcurrentTurns < 1) {
            throw new IllegalArgumentException("max_concurrent_turns must be at least 1 (leave it out for no limit), was " + maxConcurrentTurns);
        }
        webhooks = webhooks == null ? java.util.List.of() : java.util.List.copyOf(webhooks);
        backend = backend == null ? Backend.FILE : backend;
        validate(ports, heartbeatIntervalS, heartbeatTtlS, maxTaskBytes, maxMessageBytes, profiles);
    }

    /** A config with the given profiles and every other setting at its default. */
    public static DeiaConfig of(Map<String, Profile> profiles) {
        return builder().profiles(profiles).build();
    }

    /** A builder; every setting left unset takes its default. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's settings. */
    public Builder toBuilder() {
        return builder().ports(ports).heartbeatIntervalS(heartbeatIntervalS).heartbeatTtlS(heartbeatTtlS)
                .maxTaskBytes(maxTaskBytes).maxMessageBytes(maxMessageBytes).maxBodyBytes(maxBodyBytes)
                .profiles(profiles).historyMaxBytes(historyMaxBytes).projects(projects)
                .maxConcurrentTurns(maxConcurrentTurns).budget(budget).webhooks(webhooks).backend(backend);
    }

    /**
     * Reads and validates a config file. Its profiles name the commands deia runs, so a file owned
     * by another user or writable by group or others is refused ({@link HiveGuard#checkConfigFile});
     * a link to the file is followed (the file it leads to is checked and read).
     *
     * @throws DeiaException naming the file and what is wrong in it
     */
    public static DeiaConfig load(Path file) {
        Path real = file;
        try {
            real = file.toRealPath();
        } catch (java.io.IOException e) {
            // missing or unreadable: readString below says which, naming the file as given
        }
        HiveGuard.checkConfigFile(real);
        String text = AtomicFiles.readString(real);
        try {
            return Json.read(text, DeiaConfig.class, "config file " + file);
        } catch (DeiaException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw DeiaException.invalid("config file %s: %s", file, e.getMessage());
        }
    }

    /** The named profile, if configured. */
    public Optional<Profile> profile(String name) {
        return Optional.ofNullable(profiles.get(name));
    }

    /**
     * The named profile.
     *
     * @throws DeiaException {@code UNPROCESSABLE} listing the configured names when unknown
     */
    public Profile requireProfile(String name) {
        Profile p = name == null ? null : profiles.get(name);
        if (p == null) {
            throw DeiaException.unprocessable("unknown profile '%s'; configured profiles: %s", name, profiles.keySet());
        }
        return p;
    }

    /**
     * The named project.
     *
     * @throws DeiaException {@code UNPROCESSABLE} listing the configured names when unknown
     */
    public Project requireProject(String name) {
        Project p = name == null ? null : projects.get(name);
        if (p == null) {
            throw DeiaException.unprocessable("unknown project '%s'; configured projects: %s", name, projects.keySet());
        }
        return p;
    }

    /** Where a {@code command} profile's args take the prompt when {@code prompt_mode} is {@code arg}. */
    public static final String PROMPT_PLACEHOLDER = "{prompt}";
    /** Why a profile with {@code {prompt}} in its args and no {@code "prompt_mode": "arg"} is refused. */
    public static final String PROMPT_IN_ARGV = "\"{prompt}\" in args puts the prompt in argv, which every user on"
            + " the machine can read (ps, /proc); remove it to get the prompt on stdin, or set \"prompt_mode\": \"arg\""
            + " to accept that";

    private static void validate(PortRange ports, int hbInterval, int hbTtl, int maxTask, int maxMessage,
                                 Map<String, Profile> profiles) {
        if (hbInterval <= 0 || hbTtl <= hbInterval) {
            throw new IllegalArgumentException("heartbeat_interval_s must be > 0 and heartbeat_ttl_s greater than it");
        }
        if (maxTask <= 0 || maxMessage <= 0) {
            throw new IllegalArgumentException("max_task_bytes and max_message_bytes must be > 0");
        }
        profiles.forEach((name, p) -> {
            if (!name.matches("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")) {
                throw new IllegalArgumentException("profile name '" + name + "' is invalid: use letters, digits, '_', '.', '-'");
            }
            if (p.executable() == null) {
                throw new IllegalArgumentException("profile '" + name + "': agent 'command' needs an 'executable'");
            }
            if (!p.promptMode().equals("stdin") && !p.promptMode().equals("arg")) {
                throw new IllegalArgumentException("profile '" + name + "': prompt_mode must be stdin or arg");
            }
            if (p.promptMode().equals("stdin") && p.args().stream().anyMatch(a -> a.contains(PROMPT_PLACEHOLDER))) {
                throw new IllegalArgumentException("profile '" + name + "': " + PROMPT_IN_ARGV);
            }
            if (p.timeoutS() <= 0 || p.maxAttempts() <= 0 || p.messageQueueCapacity() <= 0 || p.startTimeoutS() <= 0
                    || p.retryBackoffMs() < 0) {
                throw new IllegalArgumentException("profile '" + name + "': timeouts, attempts and capacities must be > 0");
            }
            if (p.agent() == AgentType.COMMAND && p.approval().asks()) {
                throw new IllegalArgumentException("profile '" + name + "': approval.mode 'ask' needs an agent that asks"
                        + " permission (claude-code, codex, gemini); a 'command' agent has no permission protocol:"
                        + " set approval.mode to 'auto' or remove 'approval'");
            }
            for (String regex : p.denyPatterns()) {
                try {
                    Pattern.compile(regex);
                } catch (PatternSyntaxException e) {
                    throw new IllegalArgumentException("profile '" + name + "': deny pattern '" + regex + "' is not a valid regular expression: " + e.getDescription());
                }
            }
        });
    }

    /**
     * An inclusive range of TCP ports for bots.
     *
     * @param from first port
     * @param to   last port
     */
    public record PortRange(int from, int to) {
        public static final PortRange DEFAULT = new PortRange(8101, 8299);

        public PortRange {
            if (from < 1 || to > 65535 || from > to) {
                throw new IllegalArgumentException("port range must satisfy 1 <= from <= to <= 65535, was " + from + ".." + to);
            }
        }

        public boolean contains(int port) {
            return port >= from && port <= to;
        }
    }

    /** Builds a {@link DeiaConfig}; each setter sets the record component of the same name (null: its default). */
    public static final class Builder {
        private PortRange ports;
        private Integer heartbeatIntervalS;
        private Integer heartbeatTtlS;
        private Integer maxTaskBytes;
        private Integer maxMessageBytes;
        private Integer maxBodyBytes;
        private Map<String, Profile> profiles;
        private Integer historyMaxBytes;
        private Map<String, Project> projects;
        private Integer maxConcurrentTurns;
        private Budget budget;
        private java.util.List<Webhook> webhooks;
        private Backend backend;

        private Builder() {
        }

        /** See {@link DeiaConfig#ports()}. */
        public Builder ports(PortRange v) { ports = v; return this; }
        /** See {@link DeiaConfig#heartbeatIntervalS()}. */
        public Builder heartbeatIntervalS(Integer v) { heartbeatIntervalS = v; return this; }
        /** See {@link DeiaConfig#heartbeatTtlS()}. */
        public Builder heartbeatTtlS(Integer v) { heartbeatTtlS = v; return this; }
        /** See {@link DeiaConfig#maxTaskBytes()}. */
        public Builder maxTaskBytes(Integer v) { maxTaskBytes = v; return this; }
        /** See {@link DeiaConfig#maxMessageBytes()}. */
        public Builder maxMessageBytes(Integer v) { maxMessageBytes = v; return this; }
        /** See {@link DeiaConfig#maxBodyBytes()}. */
        public Builder maxBodyBytes(Integer v) { maxBodyBytes = v; return this; }
        /** See {@link DeiaConfig#profiles()}. */
        public Builder profiles(Map<String, Profile> v) { profiles = v; return this; }
        /** See {@link DeiaConfig#historyMaxBytes()}. */
        public Builder historyMaxBytes(Integer v) { historyMaxBytes = v; return this; }
        /** See {@link DeiaConfig#projects()}. */
        public Builder projects(Map<String, Project> v) { projects = v; return this; }
        /** See {@link DeiaConfig#maxConcurrentTurns()}. */
        public Builder maxConcurrentTurns(Integer v) { maxConcurrentTurns = v; return this; }
        /** See {@link DeiaConfig#budget()}. */
        public Builder budget(Budget v) { budget = v; return this; }
        /** See {@link DeiaConfig#webhooks()}. */
        public Builder webhooks(java.util.List<Webhook> v) { webhooks = v; return this; }
        /** See {@link DeiaConfig#backend()}. */
        public Builder backend(Backend v) { backend = v; return this; }

        /**
         * The config, validated as a config file is.
         *
         * @throws IllegalArgumentException naming what is wrong
         */
        public DeiaConfig build() {
            return new DeiaConfig(ports, heartbeatIntervalS, heartbeatTtlS, maxTaskBytes, maxMessageBytes, maxBodyBytes,
                    profiles, historyMaxBytes, projects, maxConcurrentTurns, budget, webhooks, backend);
        }
    }
}
