package io.deia.core.bot;

import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bot whose hive is on a real 2 MB tmpfs that fills up while tasks run, then is freed: a finished
 * task whose response cannot be written is kept and written once space is back (no restart, no
 * second run, {@code attempt: 1}); a task whose start cannot be recorded is put back into the inbox;
 * meanwhile the bot says {@code degraded}, with the reason, in its status.
 */
class BotRuntimeDiskFullTest {
    private static final String BOT = "BOT-001";
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** Appends the prompt to the marker file ($1, outside the small disk) and replies "done:PROMPT". */
    private static final String SCRIPT = "p=$(cat); printf '%s\\n' \"$p\" >> \"$1\"; printf 'done:%s' \"$p\"";

    @TempDir
    Path dir;

    private Path mounted;
    /** A read-only bind mount made by a test, unmounted first. */
    private Path bound;
    private Path filler;
    private Path marker;
    private HiveLayout hive;
    private DeiaConfig config;
    private Profile profile;
    private FileTaskQueue queue;
    private BotRuntime runtime;

    @BeforeEach
    void mountSmallDisk() throws Exception {
        Path mnt = dir.resolve("mnt");
        Files.createDirectories(mnt);
        boolean canMount = run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt.toString()) == 0;
        Assumptions.assumeTrue(canMount, "ASSUMPTION: this test needs to mount a 2 MB tmpfs (root with CAP_SYS_ADMIN); "
                + "this user could not, so a full disk is not checked here");
        mounted = mnt;
        hive = new HiveLayout(mounted.resolve(".deia"));
        filler = mounted.resolve("filler");
        marker = dir.resolve("runs.log");
        profile = Profile.builder(AgentType.COMMAND).name("marker").executable("/bin/sh")
                .args(List.of("-c", SCRIPT, "sh", marker.toString())).promptMode("stdin").timeoutS(30).maxAttempts(3)
                .retryBackoffMs(10).messageQueueCapacity(4).build();
        config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).maxMessageBytes(1000)
                .profiles(Map.of("marker", profile)).build();
        queue = new FileTaskQueue(hive, config);
    }

    @AfterEach
    void unmount() throws Exception {
        try {
            if (runtime != null) {
                runtime.close();
            }
        } finally {
            if (bound != null) {
                run("umount", "-l", bound.toString());
            }
            if (mounted != null) {
                run("umount", "-l", mounted.toString());
            }
        }
    }

    private BotRuntime startRuntime() {
        Profile named = config.requireProfile("marker");
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        runtime = BotRuntime.builder().botId(BOT).profile(named).config(config).hive(hive).registry(registry)
                .agent(Agents.create(new AgentContext(BOT, named, hive, System.getenv()))).port(18998).build().start();
        return runtime;
    }

    @Test
    void responsesThatCannotBeWrittenAreKeptAndWrittenOnceSpaceIsBackWithoutARerun() throws Exception {
        startRuntime();
        queue.submit(BOT, "---\ntask_id: warm\n---\nwarm\n");
        await().atMost(WAIT).until(() -> queue.response(BOT, "warm").isPresent());
        AtomicFiles.writeString(hive.pauseFile(BOT), "");
        for (int i = 1; i <= 3; i++) {
            queue.submit(BOT, "---\ntask_id: t" + i + "\n---\nt" + i + "\n");
        }
        fillDisk();
        Files.delete(hive.pauseFile(BOT));

        // t1 runs; its response cannot be written, so it is kept, and no further task starts, since
        // its result could not be stored either.
        // Kept and waiting tasks all count in the queue depth.
        await().atMost(WAIT).until(() -> runtime.status().state() == BotState.DEGRADED && runs().size() >= 2
                && runtime.status().currentTask() == null && runtime.status().queueDepth() == 3);
        BotStatus full = runtime.status();
        assertTrue(full.degraded() != null && full.degraded().contains("cannot write task responses")
                && full.degraded().contains("No space left"), "reason: " + full.degraded());
        assertEquals(1, responseFiles(), "only the warm-up's response");
        assertTrue(claimedTasks() >= 1, "a finished task stays claimed until its response is durable");

        Files.delete(filler);
        await().atMost(WAIT).until(() -> responseFiles() == 4 && runtime.status().state() == BotState.IDLE);
        BotStatus fine = runtime.status();
        assertNull(fine.degraded());
        assertEquals(0, fine.queueDepth());
        assertEquals(0, claimedTasks());
        for (int i = 1; i <= 3; i++) {
            TaskResponse r = queue.response(BOT, "t" + i).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals(1, r.attempt(), "written, not run again");
            assertEquals("done:t" + i, r.output());
        }
        assertEquals(List.of("warm", "t1", "t2", "t3"), runs(), "each agent ran once");
        assertEquals(3, fine.tasksCompleted() - 1);

        // A restart finds nothing to run again: its next task is the only new run.
        runtime.close();
        startRuntime();
        queue.submit(BOT, "---\ntask_id: after\n---\nafter\n");
        await().atMost(WAIT).until(() -> queue.response(BOT, "after").isPresent());
        assertEquals(List.of("warm", "t1", "t2", "t3", "after"), runs());
    }

    @Test
    void claimsWhoseStartCannotBeRecordedGoBackToTheInboxAndRunOnceSpaceIsBack() throws Exception {
        startRuntime();
        AtomicFiles.writeString(hive.pauseFile(BOT), "");
        for (int i = 1; i <= 3; i++) {
            queue.submit(BOT, "---\ntask_id: s" + i + "\n---\ns" + i + "\n");
        }
        // The monitor has not run a task yet, so its first start mark needs a block of a full disk.
        fillDisk();
        Files.delete(hive.pauseFile(BOT));

        await().atMost(WAIT).until(() -> runtime.status().state() == BotState.DEGRADED);
        BotStatus full = runtime.status();
        assertTrue(full.degraded() != null && full.degraded().contains("cannot record the start of task"),
                "reason: " + full.degraded());
        await().atMost(WAIT).until(() -> inboxFiles() == 3 && claimedTasks() == 0);
        assertEquals(List.of(), runs(), "no agent ran without its start recorded");
        assertEquals(0, responseFiles());

        Files.delete(filler);
        await().atMost(WAIT).until(() -> responseFiles() == 3 && runtime.status().state() == BotState.IDLE);
        assertNull(runtime.status().degraded());
        for (int i = 1; i <= 3; i++) {
            TaskResponse r = queue.response(BOT, "s" + i).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals(1, r.attempt());
        }
        assertEquals(List.of("s1", "s2", "s3"), runs().stream().sorted().toList(), "each ran once");
        assertEquals(0, inboxFiles());
        assertEquals(0, claimedTasks());
    }

    @Test
    void aReadOnlyResponsesFolderKeepsTheResultUntilItIsWritableAgain() throws Exception {
        startRuntime();
        queue.submit(BOT, "---\ntask_id: warm\n---\nwarm\n");
        await().atMost(WAIT).until(() -> queue.response(BOT, "warm").isPresent());
        Path responses = hive.responsesDir(BOT);
        // A read-only bind mount over the responses folder: writes there fail with EROFS, as on a
        // disk remounted read-only (a whole remount is refused while the bot holds a file open).
        boolean ro = run("mount", "--bind", responses.toString(), responses.toString()) == 0;
        if (ro) {
            bound = responses;
            ro = run("mount", "-o", "remount,bind,ro", responses.toString()) == 0;
        }
        Assumptions.assumeTrue(ro, "ASSUMPTION: this test needs a read-only bind mount (root); not checked here");
        queue.submit(BOT, "---\ntask_id: ro1\n---\nro1\n");
        await().atMost(WAIT).until(() -> runtime.status().state() == BotState.DEGRADED);
        BotStatus status = runtime.status();
        assertTrue(status.degraded().contains("Read-only file system"), "reason: " + status.degraded());
        assertEquals(1, status.queueDepth());

        assertEquals(0, run("umount", responses.toString()));
        bound = null;
        await().atMost(WAIT).until(() -> queue.response(BOT, "ro1").isPresent() && runtime.status().state() == BotState.IDLE);
        assertEquals(1, queue.response(BOT, "ro1").orElseThrow().attempt());
        assertNull(runtime.status().degraded());
        assertEquals(List.of("warm", "ro1"), runs());
    }

    private void fillDisk() throws IOException {
        try (FileOutputStream out = new FileOutputStream(filler.toFile())) {
            byte[] block = new byte[4096];
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            // the disk is full now
        }
    }

    private List<String> runs() throws IOException {
        return Files.exists(marker) ? Files.readAllLines(marker) : List.of();
    }

    private long responseFiles() throws IOException {
        return countFiles(hive.responsesDir(BOT), p -> !AtomicFiles.isTempFile(p));
    }

    private long inboxFiles() throws IOException {
        return countFiles(hive.inboxDir(BOT), p -> p.getFileName().toString().endsWith(".md"));
    }

    /** Task files in any monitor's claim folder ({@code t<seq>~<name>}). */
    private long claimedTasks() throws IOException {
        Path claimed = hive.claimedDir(BOT);
        if (!Files.isDirectory(claimed)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(claimed)) {
            return s.filter(p -> p.getFileName().toString().matches("t\\d+~.*") && Files.isRegularFile(p)).count();
        }
    }

    private static long countFiles(Path folder, java.util.function.Predicate<Path> keep) throws IOException {
        if (!Files.isDirectory(folder)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(keep).count();
        }
    }

    private static int run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
