package io.deia.core.bot;

import io.deia.core.agent.TurnResult;
import io.deia.core.task.TaskEvent;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;

/** A bot's counters since its runtime started, as {@code /status} reports them. */
final class BotStats {
    final AtomicLong tasksCompleted = new AtomicLong();
    final AtomicLong tasksFailed = new AtomicLong();
    final AtomicLong tasksRejected = new AtomicLong();
    final AtomicLong messagesCompleted = new AtomicLong();
    final AtomicLong inputTokens = new AtomicLong();
    final AtomicLong outputTokens = new AtomicLong();
    final DoubleAdder costUsd = new DoubleAdder();

    /** Counts a task that ended (completed, failed for good or rejected). */
    void count(TaskEvent e) {
        switch (e.event()) {
            case TaskEvent.COMPLETED -> tasksCompleted.incrementAndGet();
            case TaskEvent.FAILED -> tasksFailed.incrementAndGet();
            case TaskEvent.REJECTED -> tasksRejected.incrementAndGet();
            default -> {
            }
        }
    }

    /** Adds a turn's tokens and cost (chat or task), where the agent reported them. */
    void account(TurnResult result) {
        if (result.inputTokens() != null) {
            inputTokens.addAndGet(result.inputTokens());
        }
        if (result.outputTokens() != null) {
            outputTokens.addAndGet(result.outputTokens());
        }
        if (result.costUsd() != null) {
            costUsd.add(result.costUsd());
        }
    }
}
