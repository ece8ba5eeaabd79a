package io.deia.core.agent;

import io.deia.core.internal.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What every agent adapter shares: the CLI's executable and environment, the counters behind
 * {@link #health()}, the stored session, and the frame of a turn. {@link #runTurn} lets one turn
 * run at a time and none after {@link #close()}; once {@link #turn} returns, the result is counted,
 * its session stored, logged and published as the turn's last event, the same way for every CLI.
 */
abstract class CliAgent implements Agent {
    private static final Logger log = LoggerFactory.getLogger(CliAgent.class);

    protected final AgentContext context;
    protected final String botId;
    protected final String executable;
    protected final Map<String, String> env;
    protected final AgentStats stats;
    private final String type;
    /** The CLI's session across turns and restarts; null for an agent without sessions. */
    private final SessionStore sessions;
    private final AtomicBoolean busy = new AtomicBoolean();
    protected volatile boolean closed;

    /**
     * @param adapterEnv the adapter's own variables (see {@link AgentEnv})
     * @param sessions   whether the CLI has a session to resume (loaded here into {@link #stats})
     */
    CliAgent(AgentContext context, String type, Map<String, String> adapterEnv, boolean sessions) {
        this.context = context;
        this.botId = context.botId();
        this.type = type;
        this.stats = new AgentStats(type);
        this.executable = Agents.resolveExecutable(context.profile(), context.parentEnv());
        this.env = AgentEnv.build(context, adapterEnv);
        this.sessions = sessions ? new SessionStore(context, type) : null;
        if (sessions) {
            stats.session(this.sessions.load());
        }
    }

    @Override
    public final String type() {
        return type;
    }

    @Override
    public final TurnResult runTurn(TurnRequest request, AgentEventListener listener) {
        if (closed) {
            throw new IllegalStateException("agent of " + botId + " is closed");
        }
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("agent of " + botId + " is already running a turn");
        }
        AgentEventListener events = listener == null ? AgentEventListener.NONE : listener;
        try {
            TurnResult result = turn(request, events);
            stats.add(result);
            if (result.sessionId() != null) {
                saveSession(result.sessionId());
            }
            log.info("[{}] {} turn ended: {} (exit {}, {} ms){}", botId, type, result.status().id(), result.exitCode(),
                    result.durationMs(), result.error() == null ? "" : ": " + LogSafe.printable(result.error(), 2000));
            events.onEvent(new AgentEvent.Result(result));
            return result;
        } finally {
            busy.set(false);
        }
    }

    /**
     * Runs one turn on the caller's thread and returns its result; agent-side failures are results,
     * not exceptions. Events go to {@code events}, except the final {@link AgentEvent.Result}.
     */
    protected abstract TurnResult turn(TurnRequest request, AgentEventListener events);

    /** Whether a turn runs now. */
    protected final boolean busy() {
        return busy.get();
    }

    /** The agent process running now, or null. */
    protected abstract AgentProcess process();

    /** Ends the agent's processes; called once, by {@link #close()}, after {@link #closed} is set. */
    protected abstract void endProcesses();

    /** Stores the CLI's session id, or forgets it when null (agents with sessions only). */
    protected void saveSession(String sessionId) {
        if (sessions != null) {
            sessions.save(sessionId);
        }
    }

    @Override
    public final AgentHealth health() {
        AgentProcess p = process();
        return stats.snapshot(p != null && p.isAlive() ? p.pid() : null);
    }

    @Override
    public final void close() {
        if (closed) {
            return;
        }
        closed = true;
        endProcesses();
        log.info("[{}] {} agent closed", botId, type);
    }

    static long millisSince(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
