package io.deia.core.task;

import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.project.TaskChange;

import java.time.Duration;
import java.time.Instant;

/**
 * Runs one attempt of a task through the {@link TaskExecutor}, which ends the turn itself at the
 * timeout: a {@code null} result or an exception becomes a failed attempt, and while the monitor
 * closes an interrupted one. {@link #interrupt()} (from the monitor's close) interrupts the worker
 * only while it is inside the executor, never during the worker's own file I/O (an interrupt there
 * would close the channel it writes with).
 */
final class TaskAttempt {
    private final TaskExecutor executor;
    private final Object lock = new Object();
    private Thread running;
    private boolean closed;

    TaskAttempt(TaskExecutor executor) {
        this.executor = java.util.Objects.requireNonNull(executor, "executor");
    }

    /** Runs attempt {@code attempt} of {@code task} on the calling thread. */
    TurnResult run(Task task, int attempt, Duration timeout) {
        Instant start = Instant.now();
        synchronized (lock) {
            if (closed) {
                return interrupted("monitor closing", start);
            }
            running = Thread.currentThread();
        }
        try {
            TurnResult r = executor.execute(task, attempt, timeout, AgentEventListener.NONE);
            return r != null ? r : TurnResult.failed("the executor returned no result", elapsed(start), null);
        } catch (RuntimeException e) {
            return isClosed() ? interrupted(e.toString(), start) : TurnResult.failed("executor failed: " + e, elapsed(start), null);
        } finally {
            synchronized (lock) {
                running = null;
                // An interrupt meant for the executor must not reach the worker's next file write.
                Thread.interrupted();
            }
        }
    }

    /** What {@code task} changed in its project ({@link TaskExecutor#changeOf}), or null. */
    TaskChange changeOf(Task task) {
        return executor.changeOf(task).orElse(null);
    }

    /** The monitor closes: no attempt starts any more, and the one running is interrupted. */
    void interrupt() {
        synchronized (lock) {
            closed = true;
            if (running != null) {
                running.interrupt();
            }
        }
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    private static TurnResult interrupted(String why, Instant start) {
        return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, elapsed(start), null, why);
    }

    private static long elapsed(Instant start) {
        return Duration.between(start, Instant.now()).toMillis();
    }
}
