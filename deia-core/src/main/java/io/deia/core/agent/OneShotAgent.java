package io.deia.core.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An agent that starts one process per turn ({@code command}, {@code codex exec},
 * {@code gemini -p}) and reads its stdout until it exits. The turn's life cycle lives here once:
 * start, feed stdin, wait with the turn's timeout, interrupt (SIGINT, a short grace, then the whole
 * tree is terminated), collect the exit, and count crashes; the subclasses say which argv to run
 * and how to read the output.
 */
abstract class OneShotAgent implements Agent {
    private static final Logger log = LoggerFactory.getLogger(OneShotAgent.class);
    /** How long a CLI gets to wind down after SIGINT before its tree is terminated. */
    static final Duration INTERRUPT_GRACE = Duration.ofSeconds(2);
    /** How long the tree gets after SIGTERM before SIGKILL. */
    static final Duration TERM_GRACE = Duration.ofSeconds(2);

    protected final AgentContext context;
    protected final String botId;
    protected final AgentStats stats;
    protected final Map<String, String> env;
    protected final String executable;

    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicReference<TurnStatus> forcedEnd = new AtomicReference<>();
    private volatile AgentProcess current;
    private volatile boolean closed;
    /** The next turn's process, started ahead (see {@link AgentStandby}); null when none is ready. */
    private final AtomicReference<AgentStandby> standby = new AtomicReference<>();
    private final AtomicBoolean preparingStandby = new AtomicBoolean();
    private final boolean standbys = AgentStandby.available();

    protected OneShotAgent(AgentContext context, Map<String, String> adapterEnv) {
        this.context = context;
        this.botId = context.botId();
        this.stats = new AgentStats(type());
        this.executable = Agents.resolveExecutable(context.profile(), context.parentEnv());
        this.env = AgentEnv.build(context, adapterEnv);
    }

    /** The argv of this turn's process, executable first. */
    protected abstract List<String> argv(TurnRequest request);

    /**
     * The text written to stdin (which is then closed), or null to give the process /dev/null (the
     * default). The prompt goes here, never into {@link #argv}: every user can read a process's
     * argv ({@code ps}, {@code /proc/<pid>/cmdline}).
     */
    protected String stdinText(TurnRequest request) {
        return null;
    }

    /** A fresh reader of this turn's output. */
    protected abstract TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener);

    /** The longest stdout line kept whole; longer lines are cut (and the rest read and dropped). */
    protected int maxLineBytes() {
        return 8 * 1024 * 1024;
    }

    /**
     * Whether a failed attempt may be started again before its output is read (see
     * {@link ImmediateRetry}): only when {@link #argv} and {@link #stdinText} do not depend on what an
     * earlier turn left behind, such as a session to resume. False by default.
     */
    protected boolean retriesAtOnce() {
        return false;
    }

    /** Called with the finished turn's result, before it is returned (e.g. to remember a session). */
    protected void afterTurn(TurnResult result) {
    }

    /**
     * {@inheritDoc}
     *
     * <p>With an {@link ImmediateRetry} in the request and {@link #retriesAtOnce()}, an attempt whose
     * process exits by itself with a nonzero code is started again at once when the retry accepts:
     * from the standby, which first kills the failed attempt's process group, so the group is gone
     * before the retry runs, as it is on the usual path. The failed attempt's output is then
     * collected and its result published while the retry already runs; each attempt ends with its
     * own {@link AgentEvent.Result} and the last attempt's result is returned.
     */
    @Override
    public TurnResult runTurn(TurnRequest request, AgentEventListener listener) {
        if (closed) {
            throw new IllegalStateException("agent of " + botId + " is closed");
        }
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("agent of " + botId + " is already running a turn");
        }
        AgentEventListener events = listener == null ? AgentEventListener.NONE : listener;
        forcedEnd.set(null);
        try {
            long t0 = System.nanoTime();
            Attempt attempt;
            try {
                attempt = startAttempt(request, events, null);
            } catch (IOException e) {
                return cannotStart(e, t0, events);
            }
            ImmediateRetry retry = retriesAtOnce() ? request.immediateRetry() : null;
            while (true) {
                Integer exit = awaitEnd(attempt.process, request.timeout());
                TurnStatus forced = forcedEnd.get();
                boolean retrying = retry != null && forced == null && exit != null && exit != 0 && !closed && retry.beginRetry();
                Attempt next = null;
                IOException notRestarted = null;
                long retryT0 = System.nanoTime();
                if (retrying) {
                    try {
                        next = startAttempt(request, events, attempt.process);
                    } catch (IOException e) {
                        notRestarted = e;
                    }
                }
                TurnResult result = endAttempt(attempt, exit, forced, events);
                if (!retrying) {
                    return result;
                }
                retry.retryStarted(result);
                if (next == null) {
                    return cannotStart(notRestarted, retryT0, events);
                }
                attempt = next;
            }
        } finally {
            current = null;
            busy.set(false);
        }
    }

    /** One attempt of a turn: its process, what reads its output, and when it started. */
    private record Attempt(AgentProcess process, TurnOutput output, long t0) {
    }

    /**
     * Starts an attempt's process: from the standby when one is ready, else the usual way.
     *
     * @param failed the failed attempt this one retries at once, whose process group is killed
     *               before the new process runs; null for the turn's first attempt
     */
    private Attempt startAttempt(TurnRequest request, AgentEventListener events, AgentProcess failed) throws IOException {
        long t0 = System.nanoTime();
        TurnOutput output = newTurnOutput(request, events);
        List<String> argv = argv(request);
        String stdin = stdinText(request);
        AgentProcess p = null;
        AgentStandby ready = standby.getAndSet(null);
        if (ready != null && Files.exists(context.workspace(), LinkOption.NOFOLLOW_LINKS)
                && !Files.isDirectory(context.workspace(), LinkOption.NOFOLLOW_LINKS)) {
            // Something else is where the workspace was: the standby's shell would fail to enter it
            // after the attempt had begun; the usual start below reports that the agent cannot start.
            ready.discard();
            ready = null;
        }
        if (ready != null) {
            p = ready.activate(type(), argv, context.workspace(), env, stdin != null, failed == null ? 0 : failed.pid(),
                    maxLineBytes(), output);
        }
        if (p == null) {
            if (failed != null) {
                failed.killGroupRemnants();
            }
            p = AgentProcess.start(botId, type(), argv, context.workspace(), env, stdin != null, maxLineBytes(), output,
                    AgentLeftovers.recordFile(context.hive(), botId));
        }
        AgentProcess proc = p;
        current = proc;
        TurnEndPreparation.startOnce();
        prepareStandby();
        log.info("[{}] {} turn started{}{} (pid {})", botId, type(), request.taskId() == null ? "" : " for task " + request.taskId(),
                failed == null ? "" : ", retrying the attempt of pid " + failed.pid() + " at once", p.pid());
        if (stdin != null) {
            Thread writer = new Thread(() -> proc.writeAndClose(stdin), "deia-" + botId + "-stdin");
            writer.setDaemon(true);
            writer.start();
        }
        if (closed || forcedEnd.get() != null) {
            stop(p);
        }
        return new Attempt(proc, output, t0);
    }

    /** Waits for the attempt's process to exit; past {@code timeout} it is stopped and the turn marked timed out. */
    private Integer awaitEnd(AgentProcess p, Duration timeout) {
        Integer exit = p.awaitExitUninterruptibly(timeout);
        if (exit == null) {
            if (forcedEnd.compareAndSet(null, TurnStatus.TIMEOUT)) {
                log.warn("[{}] {} turn timed out after {} s; stopping pid {}", botId, type(), timeout.toSeconds(), p.pid());
            }
            stop(p);
            exit = p.awaitExitUninterruptibly(TERM_GRACE);
        }
        return exit;
    }

    /** After the attempt's process exited: ends its group, reads the rest of its output, and publishes its result. */
    private TurnResult endAttempt(Attempt attempt, Integer exit, TurnStatus forced, AgentEventListener events) {
        AgentProcess p = attempt.process;
        p.killGroupRemnants();
        p.awaitOutput(Duration.ofSeconds(5));
        stats.exited(exit);
        if (forced == null && exit != null && exit >= 128) {
            stats.crashed();
            log.warn("[{}] {} pid {} died with exit code {}", botId, type(), p.pid(), exit);
        }
        TurnResult result = attempt.output.finish(new TurnOutput.TurnEnd(exit, forced, p.stderrTail(), millisSince(attempt.t0)));
        stats.add(result);
        afterTurn(result);
        log.info("[{}] {} turn ended: {} (exit {}, {} ms)", botId, type(), result.status().id(), exit, result.durationMs());
        events.onEvent(new AgentEvent.Result(result));
        return result;
    }

    private TurnResult cannotStart(IOException e, long t0, AgentEventListener events) {
        TurnResult failed = TurnResult.failed("cannot start " + executable + ": " + e.getMessage(), millisSince(t0), null);
        log.warn("[{}] {}", botId, failed.error());
        events.onEvent(new AgentEvent.Result(failed));
        return failed;
    }

    @Override
    public boolean interrupt() {
        if (!busy.get()) {
            return false;
        }
        if (forcedEnd.compareAndSet(null, TurnStatus.INTERRUPTED)) {
            log.info("[{}] interrupting the {} turn", botId, type());
        }
        AgentProcess p = current;
        if (p != null) {
            stop(p);
        }
        return true;
    }

    @Override
    public AgentHealth health() {
        AgentProcess p = current;
        return stats.snapshot(p != null && p.isAlive() ? p.pid() : null);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        discardStandby();
        AgentProcess p = current;
        if (p != null) {
            forcedEnd.compareAndSet(null, TurnStatus.INTERRUPTED);
            p.terminate(TERM_GRACE);
        }
        log.info("[{}] {} agent closed", botId, type());
    }

    /**
     * Starts the next turn's process ahead, on a background thread, while this turn runs (see
     * {@link AgentStandby}); nothing when standbys are off, one is ready or being started, or the
     * agent is closed. A standby that cannot be started is logged; turns then start the usual way.
     */
    private void prepareStandby() {
        if (!standbys || closed || standby.get() != null || !preparingStandby.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                AgentStandby s = AgentStandby.start(botId, context.workspace(), env, AgentLeftovers.recordFile(context.hive(), botId));
                if (!standby.compareAndSet(null, s)) {
                    s.discard();
                } else if (closed) {
                    discardStandby();
                }
            } catch (IOException | RuntimeException e) {
                log.warn("[{}] cannot start the next {} process ahead; turns start the usual way: {}", botId, type(), e.toString());
            } finally {
                preparingStandby.set(false);
            }
        }, "deia-" + botId + "-standby");
        t.setDaemon(true);
        t.start();
    }

    private void discardStandby() {
        AgentStandby s = standby.getAndSet(null);
        if (s != null) {
            s.discard();
        }
    }

    /** The pid of the process waiting for the next turn, or 0 when none is ready (for tests). */
    long standbyPid() {
        AgentStandby s = standby.get();
        return s == null ? 0 : s.pid();
    }

    /** SIGINT, a short grace, then the whole tree. */
    private void stop(AgentProcess p) {
        p.sigint();
        if (p.awaitExitUninterruptibly(INTERRUPT_GRACE) == null) {
            p.terminate(TERM_GRACE);
        }
    }

    static long millisSince(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
