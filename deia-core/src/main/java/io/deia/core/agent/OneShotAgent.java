package io.deia.core.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
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
     * The text written to stdin (which is then closed), or null to give the process /dev/null. By
     * default null: the CLIs that run one process per turn take the prompt as an argument.
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

    /** Called with the finished turn's result, before it is returned (e.g. to remember a session). */
    protected void afterTurn(TurnResult result) {
    }

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
        long t0 = System.nanoTime();
        try {
            TurnOutput output = newTurnOutput(request, events);
            List<String> argv = argv(request);
            String stdin = stdinText(request);
            AgentProcess p = null;
            AgentStandby ready = standby.getAndSet(null);
            if (ready != null) {
                p = ready.activate(type(), argv, context.workspace(), env, stdin != null, maxLineBytes(), output);
            }
            try {
                if (p == null) {
                    p = AgentProcess.start(botId, type(), argv, context.workspace(), env, stdin != null, maxLineBytes(), output,
                            AgentLeftovers.recordFile(context.hive(), botId));
                }
            } catch (IOException e) {
                TurnResult failed = TurnResult.failed("cannot start " + executable + ": " + e.getMessage(), millisSince(t0), null);
                log.warn("[{}] {}", botId, failed.error());
                events.onEvent(new AgentEvent.Result(failed));
                return failed;
            }
            AgentProcess proc = p;
            current = proc;
            TurnEndPreparation.startOnce();
            prepareStandby();
            log.info("[{}] {} turn started{} (pid {})", botId, type(), request.taskId() == null ? "" : " for task " + request.taskId(), p.pid());
            if (stdin != null) {
                Thread writer = new Thread(() -> proc.writeAndClose(stdin), "deia-" + botId + "-stdin");
                writer.setDaemon(true);
                writer.start();
            }
            if (closed || forcedEnd.get() != null) {
                stop(p);
            }
            Integer exit = p.awaitExitUninterruptibly(request.timeout());
            if (exit == null) {
                if (forcedEnd.compareAndSet(null, TurnStatus.TIMEOUT)) {
                    log.warn("[{}] {} turn timed out after {} s; stopping pid {}", botId, type(), request.timeout().toSeconds(), p.pid());
                }
                stop(p);
                exit = p.awaitExitUninterruptibly(TERM_GRACE);
            }
            p.killGroupRemnants();
            p.awaitOutput(Duration.ofSeconds(5));
            TurnStatus forced = forcedEnd.get();
            stats.exited(exit);
            if (forced == null && exit != null && exit >= 128) {
                stats.crashed();
                log.warn("[{}] {} pid {} died with exit code {}", botId, type(), p.pid(), exit);
            }
            TurnResult result = output.finish(new TurnOutput.TurnEnd(exit, forced, p.stderrTail(), millisSince(t0)));
            stats.add(result);
            afterTurn(result);
            log.info("[{}] {} turn ended: {} (exit {}, {} ms)", botId, type(), result.status().id(), exit, result.durationMs());
            events.onEvent(new AgentEvent.Result(result));
            return result;
        } finally {
            current = null;
            busy.set(false);
        }
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
