package io.deia.nats;

import io.nats.client.Connection;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A worker in a JVM of its own whose every turn hangs (it writes the task id to a file first): the
 * test kills this JVM with -9 in the middle of the turn, as a machine dies.
 * Arguments: server URL, hive, bot id, lease in ms, the file to write.
 */
public final class HangingWorkerMain {
    private HangingWorkerMain() {
    }

    public static void main(String[] args) throws Exception {
        Connection nc = TaskFixtures.connect(List.of(args[0]));
        Path started = Path.of(args[4]);
        NatsTaskWorker w = TaskFixtures.worker(nc, args[1], args[2], TaskFixtures.profile(3), (task, attempt, t, ev) -> {
            try {
                Files.writeString(started, task.taskId() + " " + attempt + "\n", StandardCharsets.UTF_8);
                Thread.sleep(Long.MAX_VALUE);
            } catch (Exception e) {
                Thread.currentThread().interrupt();
            }
            return TaskFixtures.completed("never");
        }, null, Duration.ofMillis(Long.parseLong(args[3])));
        w.start();
        Thread.sleep(Long.MAX_VALUE);
    }
}
