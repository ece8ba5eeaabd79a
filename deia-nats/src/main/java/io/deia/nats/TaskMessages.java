package io.deia.nats;

import io.deia.core.task.TaskFileParser;
import io.deia.core.task.TaskIds;
import io.nats.client.impl.Headers;

import java.util.ArrayList;
import java.util.List;

/** Small rules shared by the queue and the worker about task messages. */
final class TaskMessages {
    private TaskMessages() {
    }

    /**
     * The id of a task message whose text names none (published by another client than
     * {@link NatsTaskQueue}): the task id in its {@code Nats-Msg-Id} ({@code <BOT-ID>/<task-id>}) when
     * valid, else {@code task-<stream sequence>}. Used as the name the parser falls back to.
     */
    static String fallbackId(Headers headers, long seq) {
        String msgId = headers == null ? null : headers.getFirst("Nats-Msg-Id");
        if (msgId != null) {
            String id = msgId.substring(msgId.indexOf('/') + 1);
            if (TaskIds.isValid(id)) {
                return id;
            }
        }
        return "task-" + seq;
    }

    /**
     * {@code text} with its front matter's {@code task_id} set to {@code taskId}: an existing
     * {@code task_id} line is replaced (the parser reads the last one), otherwise the line is added
     * ({@link TaskFileParser#withTaskId}).
     */
    static String withTaskId(String text, String taskId) {
        String added = TaskFileParser.withTaskId(text, taskId);
        List<String> lines = new ArrayList<>(added.lines().toList());
        // lines[0] is "---", lines[1] the new task_id: drop any other task_id line before the closing "---".
        for (int i = 2; i < lines.size(); i++) {
            String s = lines.get(i).strip();
            if (s.equals("---") || s.equals("...")) {
                break;
            }
            if (s.toLowerCase(java.util.Locale.ROOT).matches("^task_id\\s*:.*")) {
                lines.remove(i--);
            }
        }
        return String.join("\n", lines) + (added.endsWith("\n") ? "\n" : "");
    }
}
