package io.deia.core.task;

import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;

import io.deia.core.project.TaskChange;

import java.time.Duration;
import java.util.Optional;

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

    /**
     * What {@code task} changed in its project once its last attempt ended (branch, commits, size),
     * written into its response. Called on the monitor's worker thread after the attempts.
     *
     * @return empty when the executor works on no project (the default) or the task never started on one
     */
    default Optional<TaskChange> changeOf(Task task) {
        return Optional.empty();
    }
}
