package io.deia.core.agent;

import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One running {@code claude -p --input-format stream-json --output-format stream-json --verbose}
 * process and what deia says to it on its stdin: a user message per turn, the stream's
 * {@code interrupt} request, and the answers to its permission prompts ({@link ClaudePermissions};
 * the process takes prompts on stdio only when started with {@code --permission-prompt-tool stdio}).
 * Its stdout lines are parsed by its own {@link ClaudeStreamParser} and handed, with the process
 * they came from, to the agent. Every write to stdin goes through {@link AgentProcess#writeLine},
 * which is synchronized, so answers written from other threads never interleave with a turn's lines.
 */
final class ClaudeProcess {
    private static final Logger log = LoggerFactory.getLogger(ClaudeProcess.class);
    static final int MAX_LINE_BYTES = 16 * 1024 * 1024;
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);

    /** Receives a process's stdout lines, on its reader thread. */
    interface Lines {
        void onLine(ClaudeProcess from, String line, boolean truncated);
    }

    private final String botId;
    final ClaudeStreamParser parser;
    /** Started with {@code --resume}: a failure before {@code system/init} means the session was refused. */
    final boolean resumed;
    /** Started with {@code --permission-prompt-tool stdio}: its prompts can be relayed to a person. */
    final boolean promptsOnStdio;
    /** Answers this process's permission prompts. */
    final ClaudePermissions permissions;
    /** Ended on purpose: its exit is not a crash. */
    volatile boolean stopping;
    final AgentProcess process;

    /**
     * Starts {@code claude} for the bot of {@code context}, in its workspace (Claude finds sessions
     * by folder), resuming {@code session} unless it is null.
     *
     * @param promptsOnStdio start with {@code --permission-prompt-tool stdio} so prompts can be relayed
     * @throws IOException when the program cannot be started
     */
    ClaudeProcess(AgentContext context, String executable, Map<String, String> env, String session, boolean promptsOnStdio,
                  Lines lines) throws IOException {
        this.botId = context.botId();
        this.promptsOnStdio = promptsOnStdio;
        // Answers are written only after a prompt was read, so the process is set by then.
        this.permissions = new ClaudePermissions(botId, this::writeLine);
        this.parser = new ClaudeStreamParser(botId, !context.profile().includePartialMessages(), permissions);
        this.resumed = session != null;
        // The parser is set before the reader thread can deliver a line.
        this.process = AgentProcess.start(botId, "claude", argv(context.profile(), executable, session, promptsOnStdio),
                context.workspace(), env,
                true, MAX_LINE_BYTES, (line, newline, truncated) -> lines.onLine(this, line, truncated),
                AgentLeftovers.recordFile(context.hive(), botId));
        log.info("[{}] claude pid {} running{}{}", botId, process.pid(), session == null ? " (new session)" : " (resuming session " + session + ")",
                promptsOnStdio ? ", permission prompts on stdio" : "");
    }

    static List<String> argv(Profile profile, String executable, String resumeSession, boolean promptsOnStdio) {
        List<String> argv = new ArrayList<>(List.of(executable, "-p", "--input-format", "stream-json",
                "--output-format", "stream-json", "--verbose"));
        if (profile.includePartialMessages()) {
            argv.add("--include-partial-messages");
        }
        if (profile.model() != null && !profile.model().isBlank()) {
            argv.add("--model");
            argv.add(profile.model());
        }
        if (profile.permissionMode() != null && !profile.permissionMode().isBlank()) {
            argv.add("--permission-mode");
            argv.add(profile.permissionMode());
        }
        if (!profile.allowedTools().isEmpty()) {
            argv.add("--allowedTools");
            argv.add(String.join(",", profile.allowedTools()));
        }
        if (promptsOnStdio) {
            argv.add("--permission-prompt-tool");
            argv.add("stdio");
        }
        if (resumeSession != null) {
            argv.add("--resume");
            argv.add(resumeSession);
        }
        argv.addAll(profile.args());
        return argv;
    }

    private void writeLine(String line) throws IOException {
        process.writeLine(line);
    }

    /** Writes a turn's prompt as one user message line. */
    void sendUserMessage(String prompt) throws IOException {
        process.writeLine(Json.write(Map.of("type", "user", "message", Map.of("role", "user", "content", prompt))));
    }

    /** Asks the CLI to end its turn and stay (the stream's {@code control_request interrupt}). */
    void sendInterrupt() {
        try {
            process.writeLine(Json.write(Map.of("type", "control_request", "request_id", "deia-interrupt-" + System.nanoTime(),
                    "request", Map.of("subtype", "interrupt"))));
        } catch (IOException e) {
            log.debug("[{}] cannot send the interrupt request: {}", botId, e.toString());
        }
    }

    /** Ends the process on purpose (not a crash): end of stdin ends its session, else its tree is terminated. */
    void discard() {
        stopping = true;
        process.closeStdin();
        if (process.awaitExitUninterruptibly(Duration.ofSeconds(2)) == null) {
            process.terminate(TERM_GRACE);
        } else {
            process.killGroupRemnants();
        }
    }
}
