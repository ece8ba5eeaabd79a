package io.deia.core.task;

/** Receives task transitions from a {@link TaskQueueMonitor}, on its worker thread: keep it quick. */
@FunctionalInterface
public interface TaskEventListener {
    void onTaskEvent(TaskEvent e);

    /** A listener that ignores everything. */
    TaskEventListener NONE = e -> {
    };
}
