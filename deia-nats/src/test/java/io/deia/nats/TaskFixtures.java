package io.deia.nats;

import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.task.TaskEventListener;
import io.deia.core.task.TaskExecutor;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/** What the task queue tests share: profiles, executors, connections and workers. */
final class TaskFixtures {
    static final DeiaConfig CONFIG = DeiaConfig.of(Map.of());

    private TaskFixtures() {
    }

    static Profile profile(int maxAttempts) {
        return Profile.builder(AgentType.COMMAND).name("nats-test").executable("/bin/true").timeoutS(60)
                .maxAttempts(maxAttempts).retryBackoffMs(50).denyPatterns(List.of("rm -rf /")).build();
    }

    static TurnResult completed(String text) {
        return new TurnResult(TurnStatus.COMPLETED, text, null, null, null, null, 1, 0, null);
    }

    /** Answers every task with "done <task id>". */
    static TaskExecutor echo() {
        return (task, attempt, timeout, events) -> completed("done " + task.taskId());
    }

    /** A connection to any of {@code urls} that reconnects quickly and for ever (servers come back). */
    static Connection connect(List<String> urls) throws Exception {
        return Nats.connect(new Options.Builder().servers(urls.toArray(String[]::new)).maxReconnects(-1)
                .reconnectWait(Duration.ofMillis(100)).connectionTimeout(Duration.ofSeconds(5)).build());
    }

    static void closeQuietly(Connection nc) {
        try {
            nc.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static NatsTaskWorker worker(Connection nc, String hive, String bot, Profile profile, TaskExecutor executor,
                                 TaskEventListener listener, Duration ackWait) {
        return NatsTaskWorker.builder().botId(bot).connection(nc).hive(hive).config(CONFIG).profile(profile)
                .executor(executor).listener(listener).ackWait(ackWait).build();
    }
}
