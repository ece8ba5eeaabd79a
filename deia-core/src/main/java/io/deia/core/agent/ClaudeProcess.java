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
 * {@code interrupt} request, and the refusal of permission prompts. Its stdout lines are parsed by
 * its own {@link ClaudeStreamParser} and handed, with the process they came from, to the agent.
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
    /** Ended on purpose: its exit is not a crash. */
    volatile boolean stopping;
    final AgentProcess process;

    /**
     * Starts {@code claude} for the bot of {@code context}, in its workspace (Claude finds sessions
     * by folder), resuming {@code session} unless it is null.
     *
     * @throws IOException when the program cannot be started
     */
    ClaudeProcess(AgentContext context, String executable, Map<String, String> env, String session, Lines lines)
            throws IOException {
        this.botId = context.botId();
        this.parser = new ClaudeStreamParser(botId, !context.profile().includePartialMessages());
        this.resumed = session != null;
        // The parser is set before the reader thread can deliver a line.
        this.process = AgentProcess.start(botId, "claude", argv(context.profile(), executable, session), context.workspace(), env,
                true, MAX_LINE_BYTES, (line, newline, truncated) -> lines.onLine(this, line, truncated),
                AgentLeftovers.recordFile(context.hive(), botId));
        log.info("[{}] claude pid {} running{}", botId, process.pid(), session == null ? " (new session)" : " (resuming session " + session + ")");
    }

    static List<String> argv(Profile profile, String executable, String resumeSession) {
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
        if (resumeSession != null) {
            argv.add("--resume");
            argv.add(resumeSession);
        }
        argv.addAll(profile.args());
        return argv;
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

    /** The profile's permission mode and allowed tools decide; a prompt nobody can answer is refused. */
    void deny(AgentEvent.PermissionRequest pr) {
        log.info("[{}] claude asked to use {}; refused (no interactive approval in deia)", botId, pr.toolName());
        try {
            process.writeLine(Json.write(Map.of("type", "control_response", "response", Map.of("subtype", "success",
                    "request_id", pr.requestId() == null ? "" : pr.requestId(), "response", Map.of("behavior", "deny",
                            "message", "deia runs headless: allow this tool through the profile's permission_mode or allowed_tools")))));
        } catch (IOException e) {
            log.debug("[{}] cannot answer the permission request: {}", botId, e.toString());
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
