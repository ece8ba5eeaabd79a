package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.chat.HistoryStore;
import io.deia.core.internal.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Symbolic links planted inside a hive, as the security review did: deia refuses each with a clear
 * error and touches nothing outside the hive (no write, append, truncation, chmod or move).
 */
class PlantedLinkTest {
    @TempDir
    Path dir;

    private static void assertPlantedLink(DeiaException e, Path link) {
        assertEquals(ErrorCode.UNPROCESSABLE, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(link + " is a symbolic link"), e.getMessage());
    }

    private static long count(Path folder) throws Exception {
        try (Stream<Path> s = Files.list(folder)) {
            return s.count();
        }
    }

    @Test
    void aLinkedInboxIsRefusedAndTheFilesItLeadsToAreNeitherMovedNorRun() throws Exception {
        TaskTestHive hive = new TaskTestHive(dir.resolve(".deia"), 64 * 1024);
        Path victim = Files.createDirectories(dir.resolve("root-only"));
        Path secret = victim.resolve("secret.md");
        Files.writeString(secret, "touch \"$HIVE/ran-as-a-prompt\"\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        Files.createDirectories(hive.layout.tasksRoot());
        Files.createSymbolicLink(hive.layout.inboxDir(TaskTestHive.BOT), victim);

        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 1, 10))) {
            DeiaException e = assertThrows(DeiaException.class, m::start);
            assertPlantedLink(e, hive.layout.inboxDir(TaskTestHive.BOT));
        }
        assertTrue(Files.isRegularFile(secret), "the file outside the hive stays where it was");
        assertEquals(1, count(victim));
        assertFalse(Files.exists(hive.root.resolve("ran-as-a-prompt")), "nothing ran");
        assertFalse(Files.exists(hive.layout.archiveDir(TaskTestHive.BOT).resolve("secret.md")));
        assertThrows(DeiaException.class, () -> hive.queue.submit(TaskTestHive.BOT, "echo hi"),
                "a task is not written through the link either");
        assertEquals(1, count(victim));
    }

    @Test
    void aLinkedResponsesFolderIsRefusedAndNothingIsWrittenThere() throws Exception {
        TaskTestHive hive = new TaskTestHive(dir.resolve(".deia"), 64 * 1024);
        Path victim = Files.createDirectories(dir.resolve("elsewhere"));
        Files.createDirectories(hive.layout.hiveDir().resolve("responses"));
        Files.createSymbolicLink(hive.layout.responsesDir(TaskTestHive.BOT), victim);
        hive.queue.submit(TaskTestHive.BOT, "echo hi");

        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 1, 10))) {
            DeiaException e = assertThrows(DeiaException.class, m::start);
            assertPlantedLink(e, hive.layout.responsesDir(TaskTestHive.BOT));
        }
        assertEquals(0, count(victim), "no response file outside the hive");
        assertEquals(1, hive.count(hive.layout.inboxDir(TaskTestHive.BOT)), "the task waits in the inbox");
        DeiaException e = assertThrows(DeiaException.class, () -> hive.queue.responses(TaskTestHive.BOT, 10));
        assertPlantedLink(e, hive.layout.responsesDir(TaskTestHive.BOT));
    }

    @Test
    void aLinkedHistoryFileIsRefusedAndTheFileItLeadsToIsNeitherTruncatedNorAppendedTo() throws Exception {
        TaskTestHive hive = new TaskTestHive(dir.resolve(".deia"), 64 * 1024);
        Path victim = dir.resolve("precious.txt");
        // No newline at the end: the history reader would cut it off as a torn line.
        Files.writeString(victim, "line one\nprecious, no newline");
        Files.createDirectories(hive.layout.historyFile(TaskTestHive.BOT).getParent());
        Files.createSymbolicLink(hive.layout.historyFile(TaskTestHive.BOT), victim);

        try (HistoryStore history = new HistoryStore(hive.layout)) {
            DeiaException e = assertThrows(DeiaException.class,
                    () -> history.append(TaskTestHive.BOT, "user", "my prompt", null, null));
            assertPlantedLink(e, hive.layout.historyFile(TaskTestHive.BOT));
        }
        assertEquals("line one\nprecious, no newline", Files.readString(victim));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(victim)));
    }

    @Test
    void atomicWritesAndReadsRefuseALinkAndLeaveItAndItsTargetAlone() throws Exception {
        Path victim = dir.resolve("victim.txt");
        Files.writeString(victim, "keep");
        Path link = dir.resolve("hive-file");
        Files.createSymbolicLink(link, victim);

        assertPlantedLink(assertThrows(DeiaException.class, () -> AtomicFiles.writeString(link, "new")), link);
        assertPlantedLink(assertThrows(DeiaException.class,
                () -> AtomicFiles.writeNewSecret(link, "secret".getBytes(StandardCharsets.UTF_8))), link);
        assertPlantedLink(assertThrows(DeiaException.class, () -> AtomicFiles.readString(link)), link);
        assertTrue(Files.isSymbolicLink(link), "the link is reported, not replaced");
        assertEquals("keep", Files.readString(victim));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(victim)));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(2, s.count(), "no temp file left behind");
        }
    }

    @Test
    void aLinkedAgentWorkspaceIsRefusedBeforeTheAgentRuns() throws Exception {
        io.deia.core.HiveLayout layout = new io.deia.core.HiveLayout(dir.resolve(".deia"));
        Path victim = Files.createDirectories(dir.resolve("someone-elses-project"));
        Files.createDirectories(layout.botDir(TaskTestHive.BOT));
        Files.createSymbolicLink(layout.workspaceDir(TaskTestHive.BOT), victim);
        var context = new io.deia.core.agent.AgentContext(TaskTestHive.BOT,
                io.deia.core.testkit.TestProfiles.command("/bin/cat"), layout, System.getenv());
        DeiaException e = assertThrows(DeiaException.class, () -> io.deia.core.agent.Agents.create(context));
        assertPlantedLink(e, layout.workspaceDir(TaskTestHive.BOT));
        assertEquals(0, count(victim));
    }
}
