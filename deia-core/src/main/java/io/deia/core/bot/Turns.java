package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnRequest;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.GitLock;
import io.deia.core.project.TaskChange;
import io.deia.core.schedule.SlotLease;
import io.deia.core.schedule.TurnOrder;
import io.deia.core.schedule.TurnSlots;
import io.deia.core.task.Task;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskQueueMonitor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bot's agent turns, one at a time: chat messages and task attempts take turns through a fair
 * lock, so neither starves the other. It is also the task monitor's executor: an attempt is a turn
 * with the task's prompt, and an attempt that would start after a stop began is not started (the
 * task stays claimed for the next start).
 *
 * <p>Before the agent starts, a turn takes its slots under the hive's turn limits ({@link TurnSlots}):
 * while it waits in line the bot is {@code queued}; the slots are released when the turn ends.
 * <p>Every turn's cost and tokens are appended to the bot's ledger as it ends, before its result
 * goes back to the caller ({@link BotCosts}); a task's first attempt also records its pickup time.
 *
 * <p>A bot with a project works in its git worktree: every turn holds the worktree's lock, a task
 * turn runs on the task's branch, and every turn ends with deia's commit ({@link WorktreeTurns}).
 */
final class Turns implements TaskExecutor {
    private static final Logger log = LoggerFactory.getLogger(Turns.class);
    /** Upper bound for a task thread waiting for the monitor's close during a stop. */
    private static final Duration MONITOR_CLOSE_WAIT = Duration.ofSeconds(30);

    private final BotRuntime bot;
    private final Agent agent;
    private final BotStats stats;
    /** Where every turn's cost goes. */
    private final BotCosts costs;
    /** The project side of each turn, or null for a bot without a project. */
    private final WorktreeTurns worktree;
    /** The hive's turn limits as this bot's turns see them. */
    private final TurnSlots slots;
    /** Fair, so that a waiting chat message and a waiting task alternate. */
    private final ReentrantLock lock = new ReentrantLock(true);
    /** Guards {@link #running} changes and is notified when a turn ends. */
    private final Object turnEnd = new Object();
    private volatile String currentTaskId;
    private volatile boolean running;

    Turns(BotRuntime bot, Agent agent, BotStats stats, BotCosts costs, BotWorktree worktree, TurnSlots slots) {
        this.bot = bot;
        this.slots = slots;
        this.agent = agent;
        this.stats = stats;
        this.costs = costs;
        this.worktree = worktree == null ? null : new WorktreeTurns(bot.botId(), worktree, agent);
    }

    /** Waits for this caller's turn; {@link #unlock()} ends it. */
    void lock() throws InterruptedException {
        lock.lockInterruptibly();
    }

    void unlock() {
        lock.unlock();
    }

    /** True while a turn runs in the agent. */
    boolean running() {
        return running;
    }

    /** True while the next turn waits in the hive's line for a turn slot. */
    boolean queued() {
        return slots.queuePosition() != null;
    }

    /** The bot's 1-based place in the hive's line while queued, else null. */
    Integer queuePosition() {
        return slots.queuePosition();
    }

    /** The task whose turn runs now, or null. */
    String currentTaskId() {
        return currentTaskId;
    }

    /**
     * Runs one turn once it holds its turn slots; the caller holds the lock. A task turn returns null,
     * unstarted, once the bot is stopping (a stop also ends its wait for a slot); a chat turn throws
     * {@code UNAVAILABLE} then. On a project a worktree git cannot prepare fails a task turn and throws
     * for a chat turn.
     *
     * @param order the turn's place in the hive's line, when a turn limit makes it wait
     */
    TurnResult run(TurnRequest request, AgentEventListener listener, String taskId, TurnOrder order) {
        return run(request, listener, taskId, order, null, null);
    }

    /**
     * {@link #run(TurnRequest, AgentEventListener, String, TurnOrder)} for a task's attempt, recorded in
     * the ledger with its attempt and, for the first, its pickup time (null otherwise).
     */
    private TurnResult run(TurnRequest request, AgentEventListener listener, String taskId, TurnOrder order,
                           Integer attempt, Instant arrived) {
        SlotLease lease;
        try {
            lease = slots.acquire(order, taskId, bot::isStopping, bot::state);
        } catch (InterruptedException e) {
            // The stop interrupts this thread (the monitor's close, the chat worker's stop): keep the flag for them.
            Thread.currentThread().interrupt();
            lease = null;
        }
        if (lease == null) {
            bot.state();
            if (taskId != null) {
                return null;
            }
            throw DeiaException.unavailable("bot %s is stopping; the message was not run", bot.botId());
        }
        try {
            return runHolding(request, listener, taskId, attempt, arrived);
        } finally {
            lease.close();
        }
    }

    private TurnResult runHolding(TurnRequest request, AgentEventListener listener, String taskId, Integer attempt,
                                  Instant arrived) {
        synchronized (turnEnd) {
            if (taskId != null && bot.isStopping()) {
                // Checked with the turn marked running in one step, so a stop either waits for this
                // turn or sees the task not started (null): no task turn starts behind its back.
                return null;
            }
            currentTaskId = taskId;
            running = true;
        }
        bot.state();
        GitLock worktreeLock = null;
        try {
            if (worktree != null) {
                try {
                    worktreeLock = worktree.begin(taskId);
                } catch (DeiaException e) {
                    if (taskId == null) {
                        throw e;
                    }
                    String why = "cannot prepare the worktree: " + e.getMessage();
                    // A stop cut the wait for the lock short: the task stays claimed for the next start.
                    return bot.isStopping() ? new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, 0, null, why)
                            : TurnResult.failed(why, 0, null);
                }
            }
            Long pickupMs = arrived == null ? null : Math.max(0, Duration.between(arrived, Instant.now()).toMillis());
            TurnResult result = runAgent(request, listener, taskId);
            stats.account(result);
            costs.record(result, taskId, attempt, pickupMs);
            return worktree == null ? result : worktree.commit(request.prompt(), taskId, result);
        } catch (IllegalStateException e) {
            throw DeiaException.unavailable("bot %s: agent cannot run a turn: %s", bot.botId(), e.getMessage());
        } finally {
            if (worktreeLock != null) {
                worktreeLock.close();
            }
            synchronized (turnEnd) {
                running = false;
                currentTaskId = null;
                turnEnd.notifyAll();
            }
            bot.state();
        }
    }

    /**
     * The agent's turn, with the bot's permission relay as the gate when the profile asks; every
     * request the turn left waiting is cancelled when it ends, however it ends.
     */
    private TurnResult runAgent(TurnRequest request, AgentEventListener listener, String taskId) {
        PermissionBroker broker = bot.permissions();
        TurnRequest asked = bot.profile().approval().asks()
                ? new TurnRequest(request.prompt(), request.timeout(), taskId, broker) : request;
        broker.beginTurn(taskId);
        TurnResult result = null;
        try {
            result = agent.runTurn(asked, listener == null ? AgentEventListener.NONE : listener);
            return result;
        } finally {
            broker.endTurn(result == null ? null : result.sessionId());
        }
    }

    @Override
    public TurnResult execute(Task task, int attempt, Duration timeout, AgentEventListener listener) {
        if (bot.isStopping()) {
            throw notStarted(task);
        }
        try {
            lock();
        } catch (InterruptedException e) {
            throw notStarted(task);
        }
        TurnResult result = null;
        try {
            if (!bot.isStopping()) {
                log.info("[{}] task {} attempt {} starting", bot.botId(), task.taskId(), attempt);
                Duration effective = timeout != null ? timeout : bot.profile().timeout();
                result = run(new TurnRequest(task.prompt(), effective, task.taskId()), listener, task.taskId(),
                        TurnOrder.of(task), attempt, attempt == 1 ? task.createdAt() : null);
            }
        } finally {
            unlock();
        }
        if (result == null) {
            throw notStarted(task);
        }
        if (bot.isStopping() && result.status() == TurnStatus.INTERRUPTED) {
            // Cut short by the stop: hold the result until the monitor is closing (it interrupts this
            // thread), so the monitor leaves the task claimed for the next start.
            awaitMonitorClose();
        }
        return result;
    }

    /** What the task did to the bot's project; empty for a bot without one. */
    @Override
    public Optional<TaskChange> changeOf(Task task) {
        return worktree == null ? Optional.empty() : worktree.changeOf(task.taskId());
    }

    private DeiaException notStarted(Task task) {
        if (bot.isStopping()) {
            awaitMonitorClose();
        }
        return DeiaException.unavailable("bot %s is stopping; task %s was not started", bot.botId(), task.taskId());
    }

    /** Waits until this thread is interrupted by {@link TaskQueueMonitor#close()} (bounded). */
    private void awaitMonitorClose() {
        synchronized (turnEnd) {
            try {
                turnEnd.wait(MONITOR_CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                // The monitor is closing: exactly what was waited for. The flag is cleared by the monitor.
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits up to {@code wait} until no turn runs; true when none does. */
    boolean awaitEnd(Duration wait) {
        long deadline = System.nanoTime() + Math.max(0, wait.toNanos());
        synchronized (turnEnd) {
            while (running) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                try {
                    turnEnd.wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return !running;
                }
            }
            return true;
        }
    }

    /** Ends the turn in flight, if any; true when one was running. */
    boolean interrupt() {
        if (!running) {
            return false;
        }
        boolean interrupted = agent.interrupt();
        log.info("[{}] interrupt requested: {}", bot.botId(), interrupted ? "turn interrupted" : "no turn was running");
        return interrupted;
    }
}
