package io.deia.core.task;

import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;

import java.time.Duration;

/**
 * Runs one attempt of a task: in a bot, one agent turn with the task's prompt. Called on the
 * monitor's worker thread, one task at a time. It must end the turn itself after {@code timeout}
 * (returning {@link io.deia.core.agent.TurnStatus#TIMEOUT}) and should return promptly when its
 * thread is interrupted (the monitor is closing).
 */
@FunctionalInterface
public interface TaskExecutor {
    /**
     * @param task    the parsed task
     * @param attempt 1 for the first attempt, counting attempts cut short by restarts
     * @param timeout the task's own timeout, else the profile's
     * @param events  receives the turn's events as they happen
     */
    TurnResult execute(Task task, int attempt, Duration timeout, AgentEventListener events);
}
