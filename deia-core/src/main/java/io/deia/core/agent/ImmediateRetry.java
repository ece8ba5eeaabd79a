package io.deia.core.agent;

/**
 * Lets a turn start its next attempt the moment its process fails, on the thread that saw the
 * failure, instead of after the failed attempt's result has travelled back to whoever retries it
 * (output collected, state and logs updated, events published, locks released and taken again).
 *
 * <p>The task queue passes one with a task's turn when that task would be retried at once anyway:
 * an attempt is left and the profile's retry back-off is 0. The {@code command} agent then runs the
 * attempts within one {@link Agent#runTurn} call and returns the last attempt's result. The other
 * agents do not use it: {@code codex} and {@code gemini} build a turn's argv from the session the
 * previous attempt may have started, known only once its output is read, and {@code claude-code}
 * keeps one process across turns. Both methods are called on the thread running
 * the turn, one attempt at a time.
 */
public interface ImmediateRetry {

    /**
     * The attempt's process exited by itself with a nonzero code (not interrupted, not timed out),
     * so the attempt has failed. Returns true when the next attempt may start now; the next attempt
     * is then counted as started before this returns. Called before the failed attempt's output is
     * collected: it must be quick.
     */
    boolean beginRetry();

    /**
     * The failed attempt's result, called once its retry (accepted by {@link #beginRetry}) has been
     * started, or has failed to start.
     */
    void retryStarted(TurnResult failed);
}
