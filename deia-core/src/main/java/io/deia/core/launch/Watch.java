package io.deia.core.launch;

import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.internal.launch.RestartBudget;
import io.deia.core.registry.BotRecord;

import java.time.Instant;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/** One supervised bot: its current runner and its restart accounting. Guarded by the bot's lock. */
final class Watch {
    final String botId;
    /** Null for an adopted bot whose profile this controller's config does not have: not restarted. */
    final Profile profile;
    /** The configured project the bot works on, or null: every restart passes it on. */
    final String project;
    final RestartBudget budget;
    /** Bumped on every new runner, so that the exit of an earlier one is ignored. */
    final AtomicInteger generation = new AtomicInteger();
    volatile ProcessHandle handle;
    /** The runner when it is this JVM's child, else null. */
    volatile Process process;
    volatile Instant startedAt;
    volatile boolean stopRequested;
    volatile ScheduledFuture<?> pendingRestart;
    volatile BotRecord lastRecord;
    int restarts;

    Watch(String botId, Profile profile, String project, ProcessHandle handle, Process process, Instant startedAt) {
        this.botId = botId;
        this.profile = profile;
        this.project = project;
        this.handle = handle;
        this.process = process;
        this.startedAt = startedAt;
        this.budget = new RestartBudget(profile == null ? RestartPolicy.DEFAULT : profile.restart(),
                () -> ThreadLocalRandom.current().nextDouble());
    }

    long pid() {
        ProcessHandle h = handle;
        return h == null ? 0 : h.pid();
    }

    void cancelRestart() {
        ScheduledFuture<?> f = pendingRestart;
        if (f != null) {
            f.cancel(false);
        }
    }
}
