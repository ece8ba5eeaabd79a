package io.deia.core.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An agent that starts one process per turn (the {@code command} agent) and reads its stdout until
 * it exits. The turn's life cycle lives here once:
 * start, feed stdin, wait with the turn's timeout, interrupt (SIGINT, a short grace, then the whole
 * tree is terminated), collect the exit, and count crashes; the subclasses say which argv to run
 * and how to read the output.
 */
abstract class OneShotAgent extends CliAgent {
    private static final Logger log = LoggerFactory.getLogger(OneShotAgent.class);
    /** How long a CLI gets to wind down after SIGINT before its tree is terminated. */
    static final Duration INTERRUPT_GRACE = Duration.ofSeconds(2);
    /** How long the tree gets after SIGTERM before SIGKILL. */
    static final Duration TERM_GRACE = Duration.ofSeconds(2);

    private final AtomicReference<TurnStatus> forcedEnd = new AtomicReference<>();
    private volatile AgentProcess current;

    protected OneShotAgent(AgentContext context, String type, Map<String, String> adapterEnv, boolean sessions) {
        super(context, type, adapterEnv, sessions);
    }

    /** The argv of this turn's process, executable first. */
    protected abstract List<String> argv(TurnRequest request);

    /**
     * The text written to stdin (which is then closed), or null to give the process /dev/null. The
     * prompt by default: never in {@link #argv}, where every user can read it ({@code ps},
     * {@code /proc/<pid>/cmdline}).
     */
    protected String stdinText(TurnRequest request) {
        return request.prompt();
    }

    /** A fresh reader of this turn's output. */
    protected abstract TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener);

    /** The longest stdout line kept whole; longer lines are cut (and the rest read and dropped). */
    protected int maxLineBytes() {
        return 8 * 1024 * 1024;
    }

    @Override
    protected TurnResult turn(TurnRequest request, AgentEventListener events) {
        forcedEnd.set(null);
        long t0 = System.nanoTime();
        TurnOutput output = newTurnOutput(request, events);
        String stdin = stdinText(request);
        AgentProcess p;
        try {
            p = AgentProcess.start(botId, type(), argv(request), context.workspace(), env, stdin != null, maxLineBytes(),
                    output, AgentLeftovers.recordFile(context.hive(), botId));
        } catch (IOException e) {
            return TurnResult.failed("cannot start " + executable + ": " + e.getMessage(), millisSince(t0), null);
        }
        current = p;
        try {
            log.info("[{}] {} turn started{} (pid {})", botId, type(), request.taskId() == null ? "" : " for task " + request.taskId(),
                    p.pid());
            if (stdin != null) {
                Thread writer = new Thread(() -> p.writeAndClose(stdin), "deia-" + botId + "-stdin");
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
            TurnStatus forced = forcedEnd.get();
            p.killGroupRemnants();
            p.awaitOutput(Duration.ofSeconds(5));
            stats.exited(exit);
            if (forced == null && exit != null && exit >= 128) {
                stats.crashed();
                log.warn("[{}] {} pid {} died with exit code {}", botId, type(), p.pid(), exit);
            }
            return output.finish(new TurnOutput.TurnEnd(exit, forced, p.stderrTail(), millisSince(t0)));
        } finally {
            current = null;
        }
    }

    @Override
    public boolean interrupt() {
        if (!busy()) {
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
    protected AgentProcess process() {
        return current;
    }

    @Override
    protected void endProcesses() {
        AgentProcess p = current;
        if (p != null) {
            forcedEnd.compareAndSet(null, TurnStatus.INTERRUPTED);
            p.terminate(TERM_GRACE);
        }
    }

    /** SIGINT, a short grace, then the whole tree. */
    private void stop(AgentProcess p) {
        p.sigint();
        if (p.awaitExitUninterruptibly(INTERRUPT_GRACE) == null) {
            p.terminate(TERM_GRACE);
        }
    }
}
