package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.permission.PermissionGate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The {@code codex} agent: one long-lived {@code codex app-server} process per bot
 * ({@link CodexAppServer}), started on the first turn in the workspace; a turn is
 * {@code turn/start} on the bot's thread and ends with {@code turn/completed}. {@code CODEX_HOME}
 * is {@code bots/<id>/home/.codex}.
 *
 * <p>Threads: the thread id is kept in {@code bots/<id>/agent-session.json}; a new process (bot
 * restart, crash, interrupt by signal) gets {@code thread/resume}, and a thread Codex cannot resume
 * is forgotten for a new one. A process that dies during a turn fails that turn
 * ({@code "codex exited with code 137 during the turn"}), counts as a crash, and the next turn
 * starts a new one after a backoff.
 *
 * <p>Permissions: with a {@link PermissionGate} in the turn the approval policy is
 * {@code profile.env.CODEX_APPROVAL_POLICY} (default {@code untrusted}: every command Codex does not
 * know as read-only, and every file change, asks), and each approval request goes to the gate; its
 * answer is written when it comes, never blocking the reader. Without a gate the policy is
 * {@code never} and the profile's {@code permission_mode} (the sandbox) decides alone.
 *
 * <p>Endpoint and retries as in {@link CodexAppServer#argv}. Interrupt: {@code turn/interrupt}, then
 * SIGINT, then the whole tree.
 */
final class CodexAgent extends CliAgent {
    private static final Logger log = LoggerFactory.getLogger(CodexAgent.class);
    private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration CONTROL_INTERRUPT_GRACE = Duration.ofSeconds(3);
    private static final Duration SIGINT_GRACE = Duration.ofSeconds(2);
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    private static final long BACKOFF_BASE_MS = 250;
    private static final long BACKOFF_MAX_MS = 10_000;

    private final Object lock = new Object();
    /** Written under lock; read without it by the reader threads, which must not wait for the lock. */
    private volatile CodexAppServer running;
    private int consecutiveCrashes;     // guarded by lock
    private volatile Turn turn;

    /** The turn in flight. */
    private static final class Turn {
        final AgentEventListener listener;
        final CodexApprovals approvals;
        final CodexTurnEvents events = new CodexTurnEvents(null);
        final CompletableFuture<TurnResult> done = new CompletableFuture<>();
        final long t0 = System.nanoTime();
        volatile TurnStatus forced;
        volatile boolean lineDropped;

        Turn(String botId, AgentEventListener listener, PermissionGate gate) {
            this.listener = listener;
            this.approvals = new CodexApprovals(botId, gate);
        }
    }

    /** Use {@link Agents#create}. */
    CodexAgent(AgentContext context) {
        super(context, "codex", Map.of("CODEX_HOME", context.home().resolve(".codex").toAbsolutePath().toString()), true);
    }

    @Override
    protected TurnResult turn(TurnRequest request, AgentEventListener events) {
        Turn t = new Turn(botId, events, request.permissions());
        turn = t;
        try {
            CodexAppServer s;
            try {
                s = ensureRunning(request);
            } catch (IOException e) {
                return TurnResult.failed("cannot start " + executable + ": " + e.getMessage(), millisSince(t.t0), null);
            }
            log.info("[{}] codex turn started{} (pid {}, thread {}, approvals {})", botId,
                    request.taskId() == null ? "" : " for task " + request.taskId(), s.process.pid(), s.threadId, approvalPolicy(request));
            Map<String, Object> params = new LinkedHashMap<>();
            params.put("threadId", s.threadId);
            params.put("input", List.of(Map.of("type", "text", "text", request.prompt())));
            params.put("approvalPolicy", approvalPolicy(request));
            s.call("turn/start", params).whenComplete((answer, err) -> {
                Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null ? err.getCause() : err;
                if (cause instanceof CodexAppServer.CodexError) {
                    t.done.complete(TurnResult.failed("codex refused the turn: " + cause.getMessage(), millisSince(t.t0), null));
                } else if (cause != null && s.process.isAlive()) {
                    t.done.complete(TurnResult.failed("cannot start the codex turn: " + cause.getMessage(), millisSince(t.t0), null));
                } else if (cause == null) {
                    t.events.turnId(answer.path("turn").path("id").asText(null));
                }
            });
            return await(t, s, request.timeout());
        } finally {
            turn = null;
            t.approvals.withdrawAll();
        }
    }

    private TurnResult await(Turn t, CodexAppServer s, Duration timeout) {
        try {
            TurnResult r = t.done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (r.status() != TurnStatus.FAILED) {
                synchronized (lock) {
                    consecutiveCrashes = 0;
                }
            }
            return r;
        } catch (TimeoutException e) {
            log.warn("[{}] codex turn timed out after {} s", botId, timeout.toSeconds());
            t.forced = TurnStatus.TIMEOUT;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            t.forced = TurnStatus.INTERRUPTED;
        } catch (ExecutionException e) {
            return TurnResult.failed("codex turn failed: " + e.getCause(), millisSince(t.t0), null);
        }
        stopTurn(t, s);
        return t.done.getNow(forcedResult(t, null));
    }

    /** {@code never} without a gate; else the profile's {@code CODEX_APPROVAL_POLICY}, by default {@code untrusted}. */
    private String approvalPolicy(TurnRequest request) {
        return request.permissions() == null ? "never" : env.getOrDefault("CODEX_APPROVAL_POLICY", "untrusted");
    }

    @Override
    public boolean interrupt() {
        Turn t = turn;
        if (t == null || t.done.isDone()) {
            return false;
        }
        if (t.forced == null) {
            t.forced = TurnStatus.INTERRUPTED;
        }
        log.info("[{}] interrupting the codex turn", botId);
        CodexAppServer s;
        synchronized (lock) {
            s = running;
        }
        if (s != null) {
            stopTurn(t, s);
        } else {
            t.done.complete(forcedResult(t, null));
        }
        return true;
    }

    /** {@code turn/interrupt}, then SIGINT, then the whole tree; returns once the turn has ended. */
    private void stopTurn(Turn t, CodexAppServer s) {
        String turnId = t.events.turnId();
        if (turnId != null) {
            s.call("turn/interrupt", Map.of("threadId", s.threadId, "turnId", turnId));
            if (waitDone(t, CONTROL_INTERRUPT_GRACE)) {
                return;
            }
        }
        s.stopping = true;
        s.process.sigint();
        if (waitDone(t, SIGINT_GRACE)) {
            return;
        }
        s.process.terminate(TERM_GRACE);
        if (!waitDone(t, Duration.ofSeconds(5))) {
            t.done.complete(forcedResult(t, null));
        }
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

    /** The running server with its thread, started (after a crash backoff) and its thread started or resumed when there is none. */
    private CodexAppServer ensureRunning(TurnRequest request) throws IOException {
        long backoffMs;
        synchronized (lock) {
            if (running != null && running.process.isAlive() && running.threadId != null) {
                return running;
            }
            backoffMs = consecutiveCrashes == 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS << Math.min(10, consecutiveCrashes - 1));
        }
        if (backoffMs > 0) {
            log.info("[{}] restarting codex after {} crash(es); waiting {} ms first", botId, consecutiveCrashes, backoffMs);
            try {
                Thread.sleep(backoffMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting to restart codex", e);
            }
        }
        Files.createDirectories(context.home().resolve(".codex"), io.deia.core.internal.HiveGuard.folderAttributes());
        CodexAppServer s;
        synchronized (lock) {
            if (closed) {
                throw new IOException("agent closed");
            }
            discardLocked();
            s = new CodexAppServer(context, executable, env, new Inbound());
            running = s;
            s.process.onExit().whenComplete((code, err) -> onExit(s, code));
        }
        try {
            handshake(s, request);
        } catch (IOException e) {
            discardProcess();
            throw e;
        }
        return s;
    }

    /** Starts or resumes the bot's thread in {@code s}, and stores its id. */
    private void handshake(CodexAppServer s, TurnRequest request) throws IOException {
        String stored = stats.sessionId();
        String id = s.openThread(context, approvalPolicy(request), stored, HANDSHAKE_TIMEOUT);
        if (!id.equals(stored)) {
            stats.session(id);
            saveSession(id);
        }
    }

    /** What the server sends besides answers, on its reader thread. */
    private final class Inbound implements CodexAppServer.Inbound {
        @Override
        public void onMessage(CodexAppServer from, String method, JsonNode id, JsonNode params) {
            // A process being discarded may still talk: only the current one speaks for the turn.
            Turn t = from == running ? turn : null;
            if (id != null) {
                if (!CodexApprovals.isApproval(method)) {
                    log.info("[{}] codex asked {}: not served by deia, refused", botId, method);
                    from.respondError(id, "deia does not serve " + method);
                } else if (t == null) {
                    log.info("[{}] codex asked for approval ({}) outside a turn; declined", botId, method);
                    from.respond(id, Map.of("decision", "decline"));
                } else {
                    t.approvals.ask(from, method, id, params, t.events.changePaths(params.path("itemId").asText("")));
                }
                return;
            }
            if (t == null) {
                log.debug("[{}] codex notification outside a turn: {}", botId, method);
                return;
            }
            if ("serverRequest/resolved".equals(method)) {
                t.approvals.resolved(params.path("requestId"));
                return;
            }
            for (AgentEvent e : t.events.read(method, params)) {
                try {
                    t.listener.onEvent(e);
                } catch (RuntimeException ex) {
                    log.warn("[{}] an event listener failed", botId, ex);
                }
            }
            if (t.events.ended()) {
                t.done.complete(endResult(t));
            }
        }

        @Override
        public void onDroppedLine(CodexAppServer from) {
            Turn t = turn;
            if (t != null) {
                t.lineDropped = true;
            }
        }
    }

    private TurnResult endResult(Turn t) {
        CodexTurnEvents ev = t.events;
        if (t.forced != null) {
            return forcedResult(t, null);
        }
        String text = ev.text() + (t.lineDropped ? BoundedText.lineDroppedMark(CodexAppServer.MAX_LINE_BYTES) : "");
        TurnStatus status = switch (ev.status()) {
            case "completed" -> ev.error() == null ? TurnStatus.COMPLETED : TurnStatus.FAILED;
            case "interrupted" -> TurnStatus.INTERRUPTED;
            default -> TurnStatus.FAILED;
        };
        String error = status == TurnStatus.COMPLETED ? null
                : ev.error() != null ? ev.error() : status == TurnStatus.INTERRUPTED ? "codex was interrupted" : "codex: turn " + ev.status();
        return new TurnResult(status, text, stats.sessionId(), null, ev.inputTokens(), ev.outputTokens(), millisSince(t.t0), null, error);
    }

    private TurnResult forcedResult(Turn t, Integer exitCode) {
        TurnStatus status = t.forced == null ? TurnStatus.INTERRUPTED : t.forced;
        return new TurnResult(status, t.events.text(), stats.sessionId(), null, t.events.inputTokens(), t.events.outputTokens(),
                millisSince(t.t0), exitCode, TurnOutput.TurnEnd.forcedReason("codex", status));
    }

    /** Runs when a codex process has exited (any reason). */
    private void onExit(CodexAppServer s, Integer code) {
        s.process.awaitOutput(Duration.ofSeconds(2));
        s.process.killGroupRemnants();
        stats.exited(code);
        boolean current;
        synchronized (lock) {
            current = running == s;
            if (current) {
                running = null;
            }
        }
        Turn t = turn;
        boolean deliberate = s.stopping || closed;
        if (t != null && !t.done.isDone() && current) {
            if (t.forced != null) {
                t.done.complete(forcedResult(t, code));
            } else {
                countCrash(code);
                String tail = s.process.stderrTail();
                t.done.complete(TurnResult.failed("codex exited with code " + code + " during the turn"
                        + (tail.isBlank() ? "" : ": " + TurnOutput.TurnEnd.lastLines(tail, 3)), millisSince(t.t0), code));
            }
        } else if (!deliberate && current && code != null && code >= 128) {
            // Died by a signal while idle (OOM killer, kill -9): the next turn starts after a backoff.
            countCrash(code);
        }
        log.info("[{}] codex pid {} exited with code {}{}", botId, s.process.pid(), code, deliberate ? "" : " unexpectedly");
    }

    private void countCrash(Integer code) {
        stats.crashed();
        synchronized (lock) {
            consecutiveCrashes++;
        }
        log.warn("[{}] codex crashed (exit code {})", botId, code);
    }

    /** Ends the process sitting in the deleted folder; the next turn starts one in the new folder, resuming the thread. */
    @Override
    public void workspaceRecreated() {
        if (busy() || closed) {
            return;
        }
        log.info("[{}] the workspace {} was made again: the next codex turn resumes its thread in a new process", botId,
                context.workspace());
        discardProcess();
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
        if (t != null) {
            // The discarded process is no longer current, so its exit does not end the turn: end it here.
            t.done.complete(forcedResult(t, null));
        }
    }

    private void discardProcess() {
        synchronized (lock) {
            discardLocked();
        }
    }

    /** Ends the current process on purpose (not a crash). */
    private void discardLocked() {
        CodexAppServer s = running;
        running = null;
        if (s != null) {
            s.discard();
        }
    }
}
