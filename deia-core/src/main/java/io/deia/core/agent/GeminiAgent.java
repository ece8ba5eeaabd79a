package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.agent.AcpSessionStart.StartException;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The {@code gemini} agent: one long-lived {@code gemini --acp -m MODEL [--approval-mode MODE]}
 * process per bot, driven through the Agent Client Protocol ({@link AcpConnection}). The process
 * starts on the first turn ({@code initialize}, then {@code session/new}, or {@code session/load} of
 * the stored session when the CLI advertises {@code loadSession}); a turn is one
 * {@code session/prompt} whose {@code session/update} notifications become events
 * ({@link GeminiTurn}). The session id is kept in {@code bots/<id>/agent-session.json}.
 *
 * <p>Permissions: with a gate ({@link TurnRequest#permissions()}) each
 * {@code session/request_permission} is relayed and answered when the gate answers; without one
 * the CLI's own approval mode ({@code permission_mode}) decides what runs unasked, and whatever it
 * would ask about is rejected, as {@code gemini -p} does.
 *
 * <p>Interrupt: {@code session/cancel} (the process stays), SIGINT when the prompt does not end,
 * then the whole tree. A process that dies during a turn fails that turn, counts as a crash, and the
 * next turn starts a new one (after a backoff), loading the session again.
 *
 * <p>{@code GEMINI_CLI_NO_RELAUNCH=true} keeps it one process (which then obeys signals) and
 * {@code GEMINI_CLI_TRUST_WORKSPACE=true} skips the trust prompt; {@code HOME/.gemini/settings.json}
 * selects API-key auth and turns usage statistics and telemetry off. The model defaults to
 * {@value #DEFAULT_MODEL} because Gemini's own default first consults a side model for a minute.
 */
final class GeminiAgent extends CliAgent {
    private static final Logger log = LoggerFactory.getLogger(GeminiAgent.class);
    static final String DEFAULT_MODEL = "gemini-2.5-flash";
    static final String SETTINGS = "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}},"
            + "\"privacy\":{\"usageStatisticsEnabled\":false},\"telemetry\":{\"enabled\":false}}\n";
    private static final Duration CANCEL_GRACE = Duration.ofSeconds(3);
    private static final Duration SIGINT_GRACE = Duration.ofSeconds(2);
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    /** JSON-RPC "invalid params": what the CLI answers to a prompt for a session it does not know. */
    private static final int INVALID_PARAMS = -32602;
    private static final long BACKOFF_BASE_MS = 250;
    private static final long BACKOFF_MAX_MS = 10_000;

    private final Object lock = new Object();
    private AcpConnection running;          // guarded by lock
    private String sessionOfRunning;        // guarded by lock
    private int consecutiveCrashes;         // guarded by lock
    private volatile GeminiTurn turn;

    /** Use {@link Agents#create}. */
    GeminiAgent(AgentContext context) {
        super(context, "gemini", Map.of("GEMINI_CLI_NO_RELAUNCH", "true", "GEMINI_CLI_TRUST_WORKSPACE", "true"), true);
        String mode = context.profile().permissionMode();
        if (context.profile().approval().asks() && ("auto_edit".equals(mode) || "yolo".equals(mode))) {
            // Gemini runs what its own mode allows without asking: those calls never reach a person.
            log.warn("[{}] approval.mode is ask but gemini runs with --approval-mode {}: what that mode allows is not asked about",
                    botId, mode);
        }
        Path settings = context.home().resolve(".gemini").resolve("settings.json");
        if (!Files.exists(settings)) {
            try {
                AtomicFiles.writeString(settings, SETTINGS);
            } catch (RuntimeException e) {
                throw DeiaException.internal("[" + botId + "] cannot write " + settings, e);
            }
        }
    }

    /** The argv of the ACP process, executable first. */
    List<String> argv() {
        Profile profile = context.profile();
        List<String> argv = new ArrayList<>(List.of(executable, "--acp", "-m",
                profile.model() == null || profile.model().isBlank() ? DEFAULT_MODEL : profile.model()));
        if (profile.permissionMode() != null && !profile.permissionMode().isBlank()) {
            argv.add("--approval-mode");
            argv.add(profile.permissionMode());
        }
        argv.addAll(profile.args());
        return argv;
    }

    @Override
    protected TurnResult turn(TurnRequest request, AgentEventListener events) {
        GeminiTurn t = new GeminiTurn(botId, request.permissions(), events);
        long deadline = System.nanoTime() + request.timeout().toNanos();
        turn = t;
        try {
            AcpConnection c;
            String session;
            try {
                c = ensureRunning(t, deadline);
                synchronized (lock) {
                    session = sessionOfRunning;
                }
            } catch (StartException e) {
                if (t.forced != null) {
                    return t.forcedResult(stats.sessionId(), null);
                }
                return TurnResult.failed(e.getMessage(), t.millis(), e.exitCode);
            }
            log.info("[{}] gemini turn started{} (pid {}, session {})", botId,
                    request.taskId() == null ? "" : " for task " + request.taskId(), c.process.pid(), session);
            t.prompting(c, session, c.request("session/prompt", Map.of("sessionId", session,
                    "prompt", List.of(Map.of("type", "text", "text", request.prompt())))));
            if (t.forced != null) {
                stopTurn(t);
            }
            TurnResult result = await(t, request, deadline, session);
            if (result.status() == TurnStatus.COMPLETED) {
                synchronized (lock) {
                    consecutiveCrashes = 0;
                }
            }
            return result;
        } finally {
            turn = null;
            t.cancelAsked();
        }
    }

    private TurnResult await(GeminiTurn t, TurnRequest request, long deadline, String session) {
        try {
            JsonNode r = t.prompt.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return t.result(r, session);
        } catch (TimeoutException e) {
            log.warn("[{}] gemini turn timed out after {} s", botId, request.timeout().toSeconds());
            if (t.forced == null) {
                t.forced = TurnStatus.TIMEOUT;
            }
            stopTurn(t);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (t.forced == null) {
                t.forced = TurnStatus.INTERRUPTED;
            }
            stopTurn(t);
        } catch (ExecutionException e) {
            if (t.forced != null) {
                return t.forcedResult(session, t.conn.process.exitCode());
            }
            if (e.getCause() instanceof AcpConnection.ExitedException) {
                countCrash(t.conn, t.conn.process.exitCode());
                return t.failed(e.getCause().getMessage().replaceFirst(" exited with code (\\S+)", " exited with code $1 during the turn"),
                        session, t.conn.process.exitCode());
            }
            if (e.getCause() instanceof AcpConnection.RpcException rpc && rpc.code == INVALID_PARAMS) {
                // The CLI no longer knows the session (its answer to an unknown sessionId): the next turn starts over.
                log.warn("[{}] gemini refused the prompt for session {}; its process ends and the next turn loads the session again",
                        botId, session);
                discardProcess();
            }
            return t.failed("gemini: " + e.getCause().getMessage(), session, null);
        }
        try {
            return t.result(t.prompt.get(5, TimeUnit.SECONDS), session);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (TimeoutException | ExecutionException e) {
            log.debug("[{}] the stopped gemini turn gave no answer: {}", botId, e.toString());
        }
        return t.forcedResult(session, t.conn.process.exitCode());
    }

    @Override
    public boolean interrupt() {
        GeminiTurn t = turn;
        if (t == null || t.stop.isDone()) {
            return false;
        }
        if (t.forced == null) {
            t.forced = TurnStatus.INTERRUPTED;
        }
        log.info("[{}] interrupting the gemini turn", botId);
        stopTurn(t);
        return true;
    }

    /** {@code session/cancel} (open permission requests answered {@code cancelled}), then SIGINT, then the whole tree. */
    private void stopTurn(GeminiTurn t) {
        t.stop.complete(null);
        AcpConnection c = t.conn;
        if (c == null || t.prompt == null) {
            return;   // still starting: the turn thread sees the stop and ends the half-started process
        }
        c.notify("session/cancel", Map.of("sessionId", t.session));
        t.cancelAsked();
        if (waitDone(t.prompt, CANCEL_GRACE)) {
            return;
        }
        c.stopping = true;
        c.process.sigint();
        if (waitDone(t.prompt, SIGINT_GRACE)) {
            return;
        }
        c.process.terminate(TERM_GRACE);
        waitDone(t.prompt, Duration.ofSeconds(5));
    }

    private static boolean waitDone(CompletableFuture<?> f, Duration d) {
        try {
            f.get(d.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException | ExecutionException e) {
            return f.isDone();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return f.isDone();
        }
    }

    /** The running process with its session, started when there is none (after a crash backoff). */
    private AcpConnection ensureRunning(GeminiTurn t, long deadline) throws StartException {
        long backoffMs;
        synchronized (lock) {
            if (running != null && running.process.isAlive() && sessionOfRunning != null) {
                return running;
            }
            backoffMs = consecutiveCrashes == 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS << Math.min(10, consecutiveCrashes - 1));
        }
        discardProcess();
        if (backoffMs > 0) {
            log.info("[{}] restarting gemini after {} crash(es); waiting {} ms first", botId, consecutiveCrashes, backoffMs);
            try {
                t.stop.get(backoffMs, TimeUnit.MILLISECONDS);
                throw new StartException("gemini was stopped before it started", null, false);
            } catch (TimeoutException e) {
                // the backoff is over
            } catch (InterruptedException | ExecutionException e) {
                Thread.currentThread().interrupt();
                throw new StartException("interrupted while waiting to restart gemini", null, false);
            }
        }
        AcpConnection c;
        synchronized (lock) {
            if (closed) {
                throw new StartException("agent closed", null, false);
            }
            try {
                c = AcpConnection.start(botId, "gemini", argv(), context.workspace(), env,
                        AgentLeftovers.recordFile(context.hive(), botId), new Handler());
            } catch (IOException e) {
                throw new StartException("cannot start " + executable + ": " + e.getMessage(), null, false);
            }
            running = c;
            sessionOfRunning = null;
        }
        c.process.onExit().whenComplete((code, err) -> onExit(c, code));
        t.starting(c);
        String stored = stats.sessionId();
        try {
            AcpSessionStart.Opened opened = new AcpSessionStart(botId, "gemini", c, t.stop, deadline).open(context.workspace(), stored,
                    () -> GeminiSessionFiles.unpinFromCurrentMinute(botId, context.home(), stored, Clock.systemUTC()));
            if (!opened.loaded()) {
                stats.clearSession();
                stats.session(opened.id());
                saveSession(opened.id());
            }
            synchronized (lock) {
                if (running == c) {
                    sessionOfRunning = opened.id();
                }
            }
            return c;
        } catch (StartException e) {
            if (e.exited) {
                countCrash(c, e.exitCode);
            }
            discardProcess();
            throw e;
        }
    }

    /** What the agent sends on its own, on the reader thread of the running process. */
    private final class Handler implements AcpConnection.Handler {
        @Override
        public void onNotification(AcpConnection c, String method, JsonNode params) {
            if (!"session/update".equals(method)) {
                log.debug("[{}] gemini notification {} ignored", botId, method);
                return;
            }
            GeminiTurn t = turn;
            if (t != null && t.conn == c) {
                t.update(params.path("update"));
            }
        }

        @Override
        public void onRequest(AcpConnection c, JsonNode id, String method, JsonNode params) {
            if (!"session/request_permission".equals(method)) {
                log.warn("[{}] gemini asked for {}, which deia does not offer", botId, method);
                c.respondError(id, -32601, "Method not found: " + method);
                return;
            }
            GeminiTurn t = turn;
            if (t == null || t.conn != c) {
                log.warn("[{}] gemini asked permission outside a turn: cancelled", botId);
                c.respond(id, AcpPermission.cancelledOutcome());
                return;
            }
            t.permission(c, id, AcpPermission.of(params));
        }
    }

    /** Ends the process sitting in the deleted folder; the next turn starts one in the new folder, loading the session. */
    @Override
    public void workspaceRecreated() {
        if (busy() || closed) {
            return;
        }
        if (process() != null) {
            log.info("[{}] the workspace {} was made again: ending gemini; the next turn loads the session there", botId,
                    context.workspace());
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
        GeminiTurn t = turn;
        if (t != null) {
            if (t.forced == null) {
                t.forced = TurnStatus.INTERRUPTED;
            }
            t.stop.complete(null);
            t.cancelAsked();
        }
        discardProcess();
    }

    private void discardProcess() {
        AcpConnection c;
        synchronized (lock) {
            c = running;
            running = null;
            sessionOfRunning = null;
        }
        if (c != null) {
            c.discard(TERM_GRACE);
        }
    }

    /** Runs when a gemini process has exited (any reason). */
    private void onExit(AcpConnection c, Integer code) {
        c.process.awaitOutput(Duration.ofSeconds(2));
        c.process.killGroupRemnants();
        stats.exited(code);
        boolean current;
        synchronized (lock) {
            current = running == c;
            if (current) {
                running = null;
                sessionOfRunning = null;
            }
        }
        boolean deliberate = c.stopping || closed;
        GeminiTurn t = turn;
        if (!deliberate && code != null && code >= 128 && (t == null || t.conn != c)) {
            // Died by a signal while idle (OOM killer, kill -9): the next turn starts after a backoff.
            countCrash(c, code);
        }
        log.info("[{}] gemini pid {} exited with code {}{}", botId, c.process.pid(), code, deliberate ? "" : " unexpectedly");
    }

    /** Counts {@code c}'s death once, whoever notices it first. */
    private void countCrash(AcpConnection c, Integer code) {
        if (!c.crashCounted.compareAndSet(false, true)) {
            return;
        }
        stats.crashed();
        synchronized (lock) {
            consecutiveCrashes++;
        }
        log.warn("[{}] gemini crashed (exit code {})", botId, code);
    }
}
