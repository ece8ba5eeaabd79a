package io.deia.examples;

import io.deia.core.registry.BotRecord;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskQueue;
import io.deia.core.task.TaskResponse;

import java.time.Duration;
import java.util.Optional;

/**
 * Embeds the launcher: starts a bot runner process, submits a task to its inbox, reads the
 * response file the bot writes, and stops the bot with its whole process tree.
 *
 * <pre>java -cp deia-server.jar:examples/target/classes io.deia.examples.EmbeddedLauncherExample [HIVE_DIR]</pre>
 */
public final class EmbeddedLauncherExample {
    private EmbeddedLauncherExample() {
    }

    public static void main(String[] args) throws Exception {
        try (ExampleHive h = ExampleHive.open(args)) {
            BotRecord bot = h.launcher.launch("EXAMPLE-1", "shout");
            System.out.println("launched " + bot.botId() + ": pid " + bot.pid() + ", " + bot.url());

            TaskQueue tasks = new FileTaskQueue(h.hive, h.config);
            String taskId = tasks.submit(bot.botId(), "---\npriority: P0\n---\nhello from an embedded launcher\n");
            System.out.println("submitted task " + taskId);

            TaskResponse response = awaitResponse(tasks, bot.botId(), taskId, Duration.ofSeconds(60));
            System.out.println("task " + taskId + " " + response.status().id() + " in " + response.durationMs()
                    + " ms: " + response.output().strip());

            BotRecord stopped = h.launcher.stop(bot.botId());
            System.out.println("stopped " + stopped.botId() + ": " + stopped.state().id());
        }
    }

    /**
     * Waits for the response file. An embedding application would rather follow the bot's
     * {@code /events} stream (see ChatRouterExample); a short re-check keeps this example small.
     */
    static TaskResponse awaitResponse(TaskQueue tasks, String botId, String taskId, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Optional<TaskResponse> r = tasks.response(botId, taskId);
            if (r.isPresent()) {
                return r.get();
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("no response for task " + taskId + " within " + timeout);
    }
}
