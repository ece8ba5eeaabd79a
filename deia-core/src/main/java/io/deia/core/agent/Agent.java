package io.deia.core.agent;

/**
 * An agent CLI driven through its structured stream. One {@code Agent} belongs to one bot and runs
 * one turn at a time; the bot serialises callers. Implementations: {@code command},
 * {@code claude-code}, {@code codex}, {@code gemini} (see {@link Agents#create}).
 *
 * <p>An agent process that dies is not the bot's death: the turn in flight fails with a clear
 * error, and the next turn starts a fresh process (resuming the session where the CLI can).
 */
public interface Agent extends AutoCloseable {

    /** The agent type: {@code command}, {@code claude-code}, {@code codex} or {@code gemini}. */
    String type();

    /**
     * Runs one turn and blocks until it ends. Never throws for agent-side failures: they come back
     * as a {@link TurnResult} with status {@code FAILED}, {@code TIMEOUT} or {@code INTERRUPTED}.
     * Events are passed to {@code listener} as they arrive; the last one is a {@link AgentEvent.Result}.
     *
     * @throws IllegalStateException when called while another turn runs, or after {@link #close()}
     */
    TurnResult runTurn(TurnRequest request, AgentEventListener listener);

    /**
     * Ends the turn in flight, if any, without closing the agent. The CLI's own interrupt is tried
     * first, then a signal, then the process tree is killed.
     *
     * @return true when a turn was running
     */
    boolean interrupt();

    /**
     * Its working folder was made again ({@link AgentContext#workspace()}: a project worktree the
     * user deleted by hand, recreated at the same path). A process that outlives turns still sits in
     * the deleted folder, so it is ended and the next turn starts a new one there, resuming the
     * session. Called between turns; agents that start a process per turn have nothing to do.
     */
    default void workspaceRecreated() {
    }

    /** Crash count, last exit, session id and the pid of the agent process if one runs now. */
    AgentHealth health();

    /** Ends the agent process and all its descendants. Idempotent. */
    @Override
    void close();
}
