package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FileTaskQueueTest {

    @Test
    void submitPutsAWholeFileWithItsIdIntoTheInbox(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 200);
        String id = hive.queue.submit("BOT-001", "Write the notes.");
        Path file = hive.layout.inboxDir("BOT-001").resolve(id + ".md");
        assertEquals("---\ntask_id: " + id + "\n---\nWrite the notes.", AtomicFiles.readString(file));
        assertEquals("T-1", hive.queue.submit("BOT-001", "---\ntask_id: T-1\npriority: P0\n---\nfirst"));
        assertEquals("T-1", hive.queue.submit("BOT-001", "---\ntask_id: T-1\n---\nsecond"));
        assertTrue(Files.exists(hive.layout.inboxDir("BOT-001").resolve("T-1-2.md")), "a clashing name is never replaced");
        assertEquals("first", new TaskFileParser(200).parse(hive.layout.inboxDir("BOT-001").resolve("T-1.md"), "T-1.md").prompt());
        List<TaskQueue.TaskInfo> pending = hive.queue.pending("BOT-001");
        assertEquals(3, pending.size());
        assertEquals("T-1", pending.get(0).taskId());
        assertEquals("queued", pending.get(0).state());
        assertEquals(0, hive.count(hive.layout.stagingDir()), "nothing is left in staging");
        assertTrue(hive.queue.responses("BOT-001", 10).isEmpty());
        assertTrue(hive.queue.response("BOT-001", "T-1").isEmpty());
    }

    @Test
    void submitRefusesBadInputBeforeTouchingTheInbox(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 200);
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> hive.queue.submit("../x", "hi")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> hive.queue.submit("BOT-001", "  \n")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> hive.queue.submit("BOT-001", null)).code());
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE,
                assertThrows(DeiaException.class, () -> hive.queue.submit("BOT-001", "x".repeat(201))).code());
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE,
                assertThrows(DeiaException.class, () -> hive.queue.submit("BOT-001", "x".repeat(190))).code(),
                "too large once its task_id is added");
        assertEquals(ErrorCode.UNPROCESSABLE,
                assertThrows(DeiaException.class, () -> hive.queue.submit("BOT-001", "a\u0000b")).code());
        TaskFileException bad = assertThrows(TaskFileException.class,
                () -> hive.queue.submit("BOT-001", "---\npriority: soon\n---\nx"));
        assertEquals(TaskFileException.Reason.BAD_FRONT_MATTER, bad.reason());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> hive.queue.responses("BOT-001", -1)).code());
        assertEquals(0, hive.count(hive.layout.inboxDir("BOT-001")));
    }
}
