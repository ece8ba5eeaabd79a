package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/** A hive folder plus the helpers the task-queue tests share. */
final class TaskTestHive {
    static final String BOT = "BOT-001";

    final Path root;
    final HiveLayout layout;
    final DeiaConfig config;
    final FileTaskQueue queue;
    final List<TaskEvent> events = new CopyOnWriteArrayList<>();

    TaskTestHive(Path root, int maxTaskBytes) {
        this.root = root;
        this.layout = new HiveLayout(root);
        this.config = DeiaConfig.builder().maxTaskBytes(maxTaskBytes).build();
        this.queue = new FileTaskQueue(layout, config);
    }

    static Profile profile(int timeoutS, int maxAttempts, int backoffMs) {
        return Profile.builder(AgentType.COMMAND).name("test").executable("/bin/sh").timeoutS(timeoutS)
                .maxAttempts(maxAttempts).retryBackoffMs(backoffMs).build();
    }

    TaskQueueMonitor monitor(Profile profile) {
        return monitor(profile, new ShellTaskExecutor(root.resolve("scratch"), Map.of("HIVE", root.toString())), events::add);
    }

    TaskQueueMonitor monitor(Profile profile, TaskExecutor executor, TaskEventListener listener) {
        return TaskQueueMonitor.builder().botId(BOT).hive(layout).config(config).profile(profile).executor(executor)
                .listener(listener).build();
    }

    /** Puts a file into the inbox the way writers must: complete, then renamed in. */
    Path drop(String name, byte[] content) throws IOException {
        Path staged = layout.stagingDir().resolve("drop-" + System.nanoTime());
        AtomicFiles.write(staged, content);
        return AtomicFiles.moveInto(staged, layout.inboxDir(BOT), name);
    }

    long count(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    long responseCount() throws IOException {
        return count(layout.responsesDir(BOT));
    }

    /** Task files still claimed by any monitor. */
    long claimedTasks() {
        return ClaimedTasks.listAll(layout, BOT).size();
    }

    /** Paths in the hive whose names mark an unfinished write. */
    List<Path> tempFiles() throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(AtomicFiles::isTempFile).toList();
        }
    }
}
