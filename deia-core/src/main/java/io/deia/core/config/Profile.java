package io.deia.core.config;

import io.deia.core.permission.ApprovalPolicy;
import com.fasterxml.jackson.annotation.JsonIgnore;

import io.deia.core.internal.DenyPatterns;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A named recipe for a bot: which agent CLI it runs and how. Profiles come only from the config
 * file (or the built-in defaults); the HTTP API names a profile and never passes a command line.
 * Absent fields take the defaults documented in {@code docs/configuration.md}.
 *
 * @param name                   the profile's key in the config file
 * @param agent                  agent type
 * @param executable             program to run; default per agent type ({@code claude}, {@code codex}, {@code gemini}); required for {@code command}
 * @param args                   extra arguments; for {@code command}, the argv after the executable, where {@code {prompt}} is replaced by the prompt
 * @param promptMode             {@code command} only: {@code stdin} (default) or {@code arg}, which puts the prompt in argv (visible to every user in {@code ps}) and must be asked for explicitly
 * @param model                  model name passed to the CLI
 * @param permissionMode         Claude {@code --permission-mode}, Codex {@code --sandbox}, Gemini {@code --approval-mode}
 * @param allowedTools           Claude {@code --allowedTools}
 * @param includePartialMessages Claude: stream text deltas (default true)
 * @param env                    environment for the agent process (plain, logged values)
 * @param secretEnv              agent variable name to the name of a variable of the bot's own environment holding the secret; values never logged
 * @param timeoutS               default turn and task timeout in seconds (600)
 * @param maxAttempts            attempts per task before it fails for good (3)
 * @param retryBackoffMs         delay before a task's retry, doubling per attempt (1000)
 * @param messageQueueCapacity   chat messages that may wait while the bot is busy (16); one more gets 429
 * @param startTimeoutS          how long launch waits for {@code /health} (20)
 * @param runnerJvmOptions       JVM options for the bot runner process
 * @param denyPatterns           regular expressions; a prompt matching one is refused: a chat message (controller or
 *                               bot port) with 422, a task (API or inbox) with a {@code rejected} response ({@link DenyPatterns})
 * @param restart                restart policy
 * @param approval               whether the agent's tool calls wait for a person ({@link ApprovalPolicy}; {@code auto} by default)
 * @param maxConcurrent          at most this many turns of this profile's bots run at once, or null for no limit
 * @param budget                 what this profile's bots may spend together ({@link Budget}), or null for no cap
 * @param prices                 token prices for agents that report tokens but no cost ({@link Prices}), or null
 */
public record Profile(
        String name,
        AgentType agent,
        String executable,
        List<String> args,
        String promptMode,
        String model,
        String permissionMode,
        List<String> allowedTools,
        Boolean includePartialMessages,
        Map<String, String> env,
        Map<String, String> secretEnv,
        Integer timeoutS,
        Integer maxAttempts,
        Integer retryBackoffMs,
        Integer messageQueueCapacity,
        Integer startTimeoutS,
        List<String> runnerJvmOptions,
        List<String> denyPatterns,
        RestartPolicy restart,
        ApprovalPolicy approval,
        Integer maxConcurrent,
        Budget budget,
        Prices prices) {

    /** JVM options for a bot runner when a profile gives none: small heap, quick start, low RSS. */
    public static final List<String> DEFAULT_RUNNER_JVM_OPTIONS = List.of(
            "-XX:+UseSerialGC", "-Xms8m", "-Xmx64m", "-Xss512k", "-XX:TieredStopAtLevel=1",
            "-XX:CICompilerCount=1", "-XX:ReservedCodeCacheSize=24m", "-XX:MaxMetaspaceSize=64m",
            "-Xshare:auto",
            // No hsperfdata file: its sampler wakes an idle runner 20 times a second (jps/jstat do not see runners).
            "-XX:-UsePerfData",
            // Jetty otherwise starts the JMX platform MBean server (~300 classes, ~60 ms of CPU) only
            // to ask whether oops are compressed; they are (heap far below 32 GB): 64-byte cache
            // line / 4-byte references. It only sizes padding against false sharing.
            "-Dorg.eclipse.jetty.util.referencesPerCacheLine=16");

    public Profile {
        Objects.requireNonNull(agent, "agent");
        args = args == null ? List.of() : List.copyOf(args);
        allowedTools = allowedTools == null ? List.of() : List.copyOf(allowedTools);
        env = env == null ? Map.of() : Map.copyOf(env);
        secretEnv = secretEnv == null ? Map.of() : Map.copyOf(secretEnv);
        runnerJvmOptions = runnerJvmOptions == null ? DEFAULT_RUNNER_JVM_OPTIONS : List.copyOf(runnerJvmOptions);
        denyPatterns = denyPatterns == null ? List.of() : List.copyOf(denyPatterns);
        if (executable == null || executable.isBlank()) {
            executable = agent.defaultExecutable();
        }
        if (promptMode == null) {
            // stdin unless the profile says "arg": a prompt in argv is readable by every user in ps.
            promptMode = "stdin";
        }
        includePartialMessages = includePartialMessages == null ? Boolean.TRUE : includePartialMessages;
        timeoutS = timeoutS == null ? 600 : timeoutS;
        maxAttempts = maxAttempts == null ? 3 : maxAttempts;
        retryBackoffMs = retryBackoffMs == null ? 1000 : retryBackoffMs;
        messageQueueCapacity = messageQueueCapacity == null ? 16 : messageQueueCapacity;
        startTimeoutS = startTimeoutS == null ? 20 : startTimeoutS;
        restart = restart == null ? RestartPolicy.DEFAULT : restart;
        approval = approval == null ? ApprovalPolicy.AUTO : approval;
        if (maxConcurrent != null && maxConcurrent < 1) {
            throw new IllegalArgumentException("max_concurrent must be at least 1 (leave it out for no limit), was " + maxConcurrent);
        }
    }

    /** The same profile under another name (used when the config's map key names it). */
    public Profile withName(String newName) {
        return toBuilder().name(newName).build();
    }

    /** A builder for a profile running the given agent type; every field left unset takes its default. */
    public static Builder builder(AgentType agent) {
        return new Builder().agent(agent);
    }

    /** A builder holding this profile's fields. */
    public Builder toBuilder() {
        return new Builder().name(name).agent(agent).executable(executable).args(args).promptMode(promptMode)
                .model(model).permissionMode(permissionMode).allowedTools(allowedTools)
                .includePartialMessages(includePartialMessages).env(env).secretEnv(secretEnv).timeoutS(timeoutS)
                .maxAttempts(maxAttempts).retryBackoffMs(retryBackoffMs).messageQueueCapacity(messageQueueCapacity)
                .startTimeoutS(startTimeoutS).runnerJvmOptions(runnerJvmOptions).denyPatterns(denyPatterns)
                .restart(restart).approval(approval).maxConcurrent(maxConcurrent).budget(budget).prices(prices);
    }

    /** {@link #timeoutS()} as a duration. */
    @JsonIgnore
    public Duration timeout() {
        return Duration.ofSeconds(timeoutS);
    }

    /** {@link #startTimeoutS()} as a duration. */
    @JsonIgnore
    public Duration startTimeout() {
        return Duration.ofSeconds(startTimeoutS);
    }

    /** Builds a {@link Profile}; each setter sets the record component of the same name (null: its default). */
    public static final class Builder {
        private String name;
        private AgentType agent;
        private String executable;
        private List<String> args;
        private String promptMode;
        private String model;
        private String permissionMode;
        private List<String> allowedTools;
        private Boolean includePartialMessages;
        private Map<String, String> env;
        private Map<String, String> secretEnv;
        private Integer timeoutS;
        private Integer maxAttempts;
        private Integer retryBackoffMs;
        private Integer messageQueueCapacity;
        private Integer startTimeoutS;
        private List<String> runnerJvmOptions;
        private List<String> denyPatterns;
        private RestartPolicy restart;
        private ApprovalPolicy approval;
        private Integer maxConcurrent;
        private Budget budget;
        private Prices prices;

        private Builder() {
        }

        /** See {@link Profile#name()}. */
        public Builder name(String v) { name = v; return this; }
        /** See {@link Profile#agent()}. */
        public Builder agent(AgentType v) { agent = v; return this; }
        /** See {@link Profile#executable()}. */
        public Builder executable(String v) { executable = v; return this; }
        /** See {@link Profile#args()}. */
        public Builder args(List<String> v) { args = v; return this; }
        /** See {@link Profile#promptMode()}. */
        public Builder promptMode(String v) { promptMode = v; return this; }
        /** See {@link Profile#model()}. */
        public Builder model(String v) { model = v; return this; }
        /** See {@link Profile#permissionMode()}. */
        public Builder permissionMode(String v) { permissionMode = v; return this; }
        /** See {@link Profile#allowedTools()}. */
        public Builder allowedTools(List<String> v) { allowedTools = v; return this; }
        /** See {@link Profile#includePartialMessages()}. */
        public Builder includePartialMessages(Boolean v) { includePartialMessages = v; return this; }
        /** See {@link Profile#env()}. */
        public Builder env(Map<String, String> v) { env = v; return this; }
        /** See {@link Profile#secretEnv()}. */
        public Builder secretEnv(Map<String, String> v) { secretEnv = v; return this; }
        /** See {@link Profile#timeoutS()}. */
        public Builder timeoutS(Integer v) { timeoutS = v; return this; }
        /** See {@link Profile#maxAttempts()}. */
        public Builder maxAttempts(Integer v) { maxAttempts = v; return this; }
        /** See {@link Profile#retryBackoffMs()}. */
        public Builder retryBackoffMs(Integer v) { retryBackoffMs = v; return this; }
        /** See {@link Profile#messageQueueCapacity()}. */
        public Builder messageQueueCapacity(Integer v) { messageQueueCapacity = v; return this; }
        /** See {@link Profile#startTimeoutS()}. */
        public Builder startTimeoutS(Integer v) { startTimeoutS = v; return this; }
        /** See {@link Profile#runnerJvmOptions()}. */
        public Builder runnerJvmOptions(List<String> v) { runnerJvmOptions = v; return this; }
        /** See {@link Profile#denyPatterns()}. */
        public Builder denyPatterns(List<String> v) { denyPatterns = v; return this; }
        /** See {@link Profile#restart()}. */
        public Builder restart(RestartPolicy v) { restart = v; return this; }
        /** See {@link Profile#approval()}. */
        public Builder approval(ApprovalPolicy v) { approval = v; return this; }
        /** See {@link Profile#maxConcurrent()}. */
        public Builder maxConcurrent(Integer v) { maxConcurrent = v; return this; }
        /** See {@link Profile#budget()}. */
        public Builder budget(Budget v) { budget = v; return this; }
        /** See {@link Profile#prices()}. */
        public Builder prices(Prices v) { prices = v; return this; }

        /** The profile, its defaults filled in. */
        public Profile build() {
            return new Profile(name, agent, executable, args, promptMode, model, permissionMode, allowedTools,
                    includePartialMessages, env, secretEnv, timeoutS, maxAttempts, retryBackoffMs, messageQueueCapacity,
                    startTimeoutS, runnerJvmOptions, denyPatterns, restart, approval, maxConcurrent, budget, prices);
        }
    }
}
