package io.deia.core.config;

import com.fasterxml.jackson.annotation.JsonIgnore;

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
        RestartPolicy restart) {

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
        if (includePartialMessages == null) {
            includePartialMessages = Boolean.TRUE;
        }
        if (timeoutS == null) {
            timeoutS = 600;
        }
        if (maxAttempts == null) {
            maxAttempts = 3;
        }
        if (retryBackoffMs == null) {
            retryBackoffMs = 1000;
        }
        if (messageQueueCapacity == null) {
            messageQueueCapacity = 16;
        }
        if (startTimeoutS == null) {
            startTimeoutS = 20;
        }
        if (restart == null) {
            restart = RestartPolicy.DEFAULT;
        }
    }

    /** The same profile under another name (used when the config's map key names it). */
    public Profile withName(String newName) {
        return new Profile(newName, agent, executable, args, promptMode, model, permissionMode, allowedTools,
                includePartialMessages, env, secretEnv, timeoutS, maxAttempts, retryBackoffMs, messageQueueCapacity,
                startTimeoutS, runnerJvmOptions, denyPatterns, restart);
    }

    @JsonIgnore
    public Duration timeout() {
        return Duration.ofSeconds(timeoutS);
    }

    @JsonIgnore
    public Duration startTimeout() {
        return Duration.ofSeconds(startTimeoutS);
    }
}
