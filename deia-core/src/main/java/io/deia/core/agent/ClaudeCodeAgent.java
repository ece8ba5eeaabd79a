package io.deia.core.agent;

import io.deia.core.permission.PermissionGate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The {@code claude-code} agent: one long-lived
 * {@code claude -p --input-format stream-json --output-format stream-json --verbose} process per
 * bot session ({@link ClaudeProcess}). A turn writes one user message line to its stdin and reads
 * events until the {@code result} line.
 *
 * <p>Sessions: the session id is stored in {@code bots/<id>/agent-session.json}; when the process
 * has to be started again (bot restart, crash, interrupt by signal) it gets {@code --resume <id>},
 * always with the workspace as its cwd because Claude finds sessions by folder. A session that the
 * CLI refuses to resume is forgotten and the turn runs in a fresh one.
 *
 * <p>Permissions: a turn with a {@link TurnRequest#permissions() gate} runs in a process started
 * with {@code --permission-prompt-tool stdio}, whose prompts {@link ClaudePermissions} relays.
 *
 * <p>Interrupt: the stream's {@code control_request interrupt} first (the process stays), SIGINT
 * when no result follows, then the whole tree is terminated. A process that dies during a turn
 * fails that turn ({@code "claude exited with code 137 during the turn"}), counts as a crash, and
 * the next turn starts a new one after a backoff.
 */
final class ClaudeCodeAgent extends CliAgent {
    private static final Logger log = LoggerFactory.getLogger(ClaudeCodeAgent.class);
    private static final Duration CONTROL_INTERRUPT_GRACE = Duration.ofSeconds(3);
    private static final Duration SIGINT_GRACE = Duration.ofSeconds(2);
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    private static final int MAX_TEXT_CHARS = 1024 * 1024;
    private static final long BACKOFF_BASE_MS = 250;
    private static final long BACKOFF_MAX_MS = 10_000;

    private final Object lock = new Object();
    private ClaudeProcess running;      // guarded by lock
    private int consecutiveCrashes;     // guarded by lock
    private volatile Turn turn;

    /** The turn in flight. */
    private static final class Turn {
        final AgentEventListener listener;
        /** Where the CLI's permission prompts go, or null when its own permission mode decides. */
        final PermissionGate gate;
        final CompletableFuture<TurnResult> done = new CompletableFuture<>();
        final BoundedText text = new BoundedText(MAX_TEXT_CHARS);
        final long t0 = System.nanoTime();
        volatile TurnStatus forced;
        volatile boolean resumeRefused;
        /** An output line over the cap was skipped during this turn: the reply says so. */
        volatile boolean lineDropped;

        Turn(AgentEventListener listener, PermissionGate gate) {
            this.listener = listener;
            this.gate = gate;
        }
    }

    /** Use {@link Agents#create}. */
    ClaudeCodeAgent(AgentContext context) {
        super(context, "claude-code", Map.of("CLAUDE_CONFIG_DIR", context.home().resolve(".claude").toAbsolutePath().toString(),
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", "DISABLE_AUTOUPDATER", "1"), true);
    }

    /** Runs the turn; a session the CLI refuses to resume is forgotten and the turn runs once more in a new one. */
    @Override
    protected TurnResult turn(TurnRequest request, AgentEventListener events) {
        try {
            for (int attempt = 0; ; attempt++) {
                Turn t = new Turn(events, request.permissions());
                turn = t;
                TurnResult result = runOnce(request, t);
                if (!t.resumeRefused || attempt > 0 || t.forced != null) {
                    if (result.status() != TurnStatus.FAILED) {
                        turnSucceeded();
                    }
                    return result;
                }
                log.warn("[{}] claude could not resume session {}; starting a new session", botId, stats.sessionId());
                stats.clearSession();
                saveSession(null);
                discardProcess();
            }
        } finally {
            turn = null;
        }
    }

    private TurnResult runOnce(TurnRequest request, Turn t) {
        ClaudeProcess r;
        try {
            r = ensureRunning(request.permissions() != null);
        } catch (IOException e) {
            return TurnResult.failed("cannot start " + executable + ": " + e.getMessage(), millisSince(t.t0), null);
        }
        log.info("[{}] claude turn started{} (pid {})", botId, request.taskId() == null ? "" : " for task " + request.taskId(),
                r.process.pid());
        r.permissions.gate(request.permissions());
        try {
            r.sendUserMessage(request.prompt());
        } catch (IOException e) {
            // The process is gone; its exit handler fails the turn with the exit code.
            log.warn("[{}] cannot write the prompt to claude pid {}: {}", botId, r.process.pid(), e.toString());
        }
        try {
            return awaitTurn(request, t, r);
        } finally {
            r.permissions.turnEnded(); // nothing may wait for a person once its turn is over
        }
    }

    private TurnResult awaitTurn(TurnRequest request, Turn t, ClaudeProcess r) {
        try {
            return t.done.get(request.timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            log.warn("[{}] claude turn timed out after {} s", botId, request.timeout().toSeconds());
            t.forced = TurnStatus.TIMEOUT;
            stopTurn(t, r);
            return awaitEnd(t);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            t.forced = TurnStatus.INTERRUPTED;
            stopTurn(t, r);
            return awaitEnd(t);
        } catch (ExecutionException e) {
            return TurnResult.failed("claude turn failed: " + e.getCause(), millisSince(t.t0), null);
        }
    }

    private TurnResult awaitEnd(Turn t) {
        try {
            return t.done.get(10, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            return forcedResult(t, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return forcedResult(t, null);
        }
    }

    @Override
    public boolean interrupt() {
        Turn t = turn;
        if (t == null || t.done.isDone()) {
            return false;
        }
        ClaudeProcess r;
        synchronized (lock) {
            r = running;
        }
        if (t.forced == null) {
            t.forced = TurnStatus.INTERRUPTED;
        }
        log.info("[{}] interrupting the claude turn", botId);
        if (r != null) {
            stopTurn(t, r);
        } else {
            t.done.complete(forcedResult(t, null));
        }
        return true;
    }

    /** The stream's interrupt, then SIGINT, then the whole tree; returns once the turn has ended. */
    private void stopTurn(Turn t, ClaudeProcess r) {
        r.sendInterrupt();
        if (waitDone(t, CONTROL_INTERRUPT_GRACE)) {
            return;
        }
        r.stopping = true;
        r.process.sigint();
        if (waitDone(t, SIGINT_GRACE)) {
            return;
        }
        r.process.terminate(TERM_GRACE);
        waitDone(t, Duration.ofSeconds(5));
    }

    private static boolean waitDone(Turn t, Duration d) {
        try {
            t.done.get(d.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException | ExecutionException e) {
            return t.done.isDone();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return t.done.isDone();
        }
    }

    /** Ends the process sitting in the deleted folder; the next turn starts one in the new folder, resuming the session. */
    @Override
    public void workspaceRecreated() {
        if (busy() || closed) {
            return;
        }
        ClaudeProcess r;
        synchronized (lock) {
            r = running;
        }
        if (r != null) {
            log.info("[{}] the workspace {} was made again: ending claude pid {}; the next turn resumes the session there",
                    botId, context.workspace(), r.process.pid());
            discardProcess();
        }
    }

    @Override
    protected AgentProcess process() {
        synchronized (lock) {
            return running == null ? null : running.process;
        }
    }

    @Override
    protected void endProcesses() {
        Turn t = turn;
        if (t != null && t.forced == null) {
            t.forced = TurnStatus.INTERRUPTED;
        }
        discardProcess();
    }

    /** The running process; a new one (after a crash backoff, resuming the session) when there is none or it lacks the stdio prompts a turn needs. */
    private ClaudeProcess ensureRunning(boolean promptsOnStdio) throws IOException {
        long backoffMs;
        boolean replace = false;
        synchronized (lock) {
            if (running != null && running.process.isAlive()) {
                if (!promptsOnStdio || running.promptsOnStdio) {
                    return running;
                }
                replace = true;
            }
            backoffMs = consecutiveCrashes == 0 ? 0
                    : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS << Math.min(10, consecutiveCrashes - 1));
        }
        if (replace) {
            log.info("[{}] this turn relays permission prompts: restarting claude with them on stdio, resuming the session", botId);
            discardProcess();
        }
        if (backoffMs > 0) {
            log.info("[{}] restarting claude after {} crash(es); waiting {} ms first", botId, consecutiveCrashes, backoffMs);
            try {
                Thread.sleep(backoffMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting to restart claude", e);
            }
        }
        synchronized (lock) {
            if (closed) {
                throw new IOException("agent closed");
            }
            // A profile in ask mode gets the prompt tool from its first start, so its first turn needs no restart.
            ClaudeProcess r = new ClaudeProcess(context, executable, env, stats.sessionId(),
                    promptsOnStdio || context.profile().approval().asks(), this::onLine);
            running = r;
            r.process.onExit().whenComplete((code, err) -> onExit(r, code));
            return r;
        }
    }

    /** Runs on the stdout reader thread of {@code r}'s process. */
    private void onLine(ClaudeProcess r, String line, boolean truncated) {
        if (truncated) {
            log.warn("[{}] skipping a claude output line longer than {} bytes", botId, ClaudeProcess.MAX_LINE_BYTES);
            Turn t = turn;
            if (t != null) {
                t.lineDropped = true;
            }
            return;
        }
        String before = r.parser.sessionId();
        List<AgentEvent> events = r.parser.parse(line);
        String now = r.parser.sessionId();
        if (now != null && !now.equals(before)) {
            stats.session(now);
            saveSession(now);
        }
        Turn t = turn;
        for (AgentEvent e : events) {
            if (t == null) {
                log.debug("[{}] claude event outside a turn: {}", botId, e);
                continue;
            }
            if (e instanceof AgentEvent.Result res) {
                if (r.resumed && !r.parser.sawInit() && !res.result().isSuccess()) {
                    // The CLI refused the session and exits by itself: expected, not a crash.
                    r.stopping = true;
                    t.resumeRefused = true;
                }
                t.done.complete(finalResult(t, res.result()));
                continue;
            }
            if (e instanceof AgentEvent.TextDelta d) {
                t.text.append(d.text());
            }
            if (e instanceof AgentEvent.PermissionRequest && t.gate != null) {
                // Relayed by r.permissions: the gate announces it under the relay's own id.
                continue;
            }
            deliver(t, e);
        }
    }

    private void deliver(Turn t, AgentEvent e) {
        try {
            t.listener.onEvent(e);
        } catch (RuntimeException ex) {
            log.warn("[{}] an event listener failed", botId, ex);
        }
    }

    private TurnResult finalResult(Turn t, TurnResult cli) {
        long ms = millisSince(t.t0);
        String text = (cli.text().isEmpty() ? t.text.toString() : cli.text())
                + (t.lineDropped ? BoundedText.lineDroppedMark(ClaudeProcess.MAX_LINE_BYTES) : "");
        if (t.forced != null) {
            return new TurnResult(t.forced, t.text.toString(), cli.sessionId(), cli.costUsd(), cli.inputTokens(),
                    cli.outputTokens(), ms, null, TurnOutput.TurnEnd.forcedReason("claude", t.forced));
        }
        return new TurnResult(cli.status(), text, cli.sessionId(), cli.costUsd(), cli.inputTokens(), cli.outputTokens(), ms, null, cli.error());
    }

    private TurnResult forcedResult(Turn t, Integer exitCode) {
        TurnStatus status = t.forced == null ? TurnStatus.INTERRUPTED : t.forced;
        return new TurnResult(status, t.text.toString(), stats.sessionId(), null, null, null, millisSince(t.t0), exitCode,
                TurnOutput.TurnEnd.forcedReason("claude", status));
    }

    /** Runs when a claude process has exited (any reason). */
    private void onExit(ClaudeProcess r, Integer code) {
        r.process.awaitOutput(Duration.ofSeconds(2));
        r.process.killGroupRemnants();
        r.permissions.turnEnded();
        stats.exited(code);
        boolean current;
        synchronized (lock) {
            current = running == r;
            if (current) {
                running = null;
            }
        }
        Turn t = turn;
        boolean deliberate = r.stopping || closed;
        if (t != null && !t.done.isDone() && current) {
            if (t.forced != null) {
                t.done.complete(forcedResult(t, code));
            } else {
                if (r.resumed && !r.parser.sawInit()) {
                    t.resumeRefused = true;
                } else {
                    countCrash(code);
                }
                String tail = r.process.stderrTail();
                t.done.complete(TurnResult.failed("claude exited with code " + code + " during the turn"
                        + (tail.isBlank() ? "" : ": " + TurnOutput.TurnEnd.lastLines(tail, 3)), millisSince(t.t0), code));
            }
        } else if (!deliberate && current && code != null && code >= 128) {
            // Died by a signal while idle (OOM killer, kill -9): the next turn starts after a backoff.
            countCrash(code);
        }
        log.info("[{}] claude pid {} exited with code {}{}", botId, r.process.pid(), code, deliberate ? "" : " unexpectedly");
    }

    /** Ends the current process on purpose (not a crash), e.g. one stuck on a session it cannot resume. */
    private void discardProcess() {
        ClaudeProcess r;
        synchronized (lock) {
            r = running;
            running = null;
        }
        if (r != null) {
            r.discard();
        }
    }

    private void countCrash(Integer code) {
        stats.crashed();
        synchronized (lock) {
            consecutiveCrashes++;
        }
        log.warn("[{}] claude crashed (exit code {})", botId, code);
    }

    private void turnSucceeded() {
        synchronized (lock) {
            consecutiveCrashes = 0;
        }
    }
}
