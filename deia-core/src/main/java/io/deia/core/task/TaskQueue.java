package io.deia.core.task;

import java.util.List;
import java.util.Optional;

/**
 * The per-bot work queue seen from outside a bot: submit tasks, look at what is waiting and read
 * responses. The embedded default keeps everything in the hive folder (see {@link FileTaskQueue});
 * the interface says nothing about files so that a shared implementation can replace it.
 */
public interface TaskQueue {

    /**
     * Puts a task into {@code botId}'s inbox in one atomic step (never a partial file in the inbox).
     *
     * @param markdown the task file: optional front matter, then the prompt
     * @return the task id the bot will use for its response
     * @throws io.deia.core.DeiaException {@code INVALID_ARGUMENT} for a bad bot id or empty task,
     *         {@code PAYLOAD_TOO_LARGE} over the size limit
     */
    String submit(String botId, String markdown);

    /** Tasks waiting in the inbox or claimed and not finished, in the order the bot will take them. */
    List<TaskInfo> pending(String botId);

    /** The response for a task, once it has reached its final outcome. */
    Optional<TaskResponse> response(String botId, String taskId);

    /** All responses of a bot, newest first, at most {@code limit}; unreadable ones are left out. */
    List<TaskResponse> responses(String botId, int limit);

    /**
     * Like {@link #responses}, and also names the responses that could not be read (left out of
     * the list instead of failing it). The default reports none.
     */
    default ResponseListing responseListing(String botId, int limit) {
        return new ResponseListing(responses(botId, limit), List.of());
    }

    /**
     * A page of responses and the response files skipped because they could not be read.
     *
     * @param responses newest first
     * @param skipped   unreadable responses, each by its name (never a full path) and why
     */
    record ResponseListing(List<TaskResponse> responses, List<Skipped> skipped) {
        public ResponseListing {
            responses = List.copyOf(responses);
            skipped = List.copyOf(skipped);
        }
    }

    /**
     * A response that could not be read.
     *
     * @param file   its name, without a folder
     * @param reason why it could not be read
     */
    record Skipped(String file, String reason) {
    }

    /**
     * How many of a bot's tasks ended with each status ({@code completed}, {@code failed}, ...),
     * counted from the durable responses: unlike a runner's own counters they survive its restarts.
     */
    default java.util.Map<String, Integer> outcomes(String botId) {
        java.util.Map<String, Integer> counts = new java.util.TreeMap<>();
        for (TaskResponse r : responses(botId, Integer.MAX_VALUE)) {
            counts.merge(r.status() == null ? "unknown" : r.status().id(), 1, Integer::sum);
        }
        return counts;
    }

    /**
     * A task that has not finished yet.
     *
     * @param taskId   its id
     * @param state    {@code queued} (in the inbox) or {@code running} (claimed)
     * @param priority 0..3
     * @param attempt  attempts made so far (0 while queued)
     */
    record TaskInfo(String taskId, String state, int priority, int attempt, java.time.Instant createdAt) {
    }
}
