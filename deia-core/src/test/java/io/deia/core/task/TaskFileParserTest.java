package io.deia.core.task;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskFileParserTest {
    private final TaskFileParser parser = new TaskFileParser(1000);
    private final Instant mtime = Instant.parse("2024-05-01T00:00:00Z");

    private Task parse(String text, String name) {
        return parser.parse(text.getBytes(StandardCharsets.UTF_8), name, mtime);
    }

    private TaskFileException.Reason refused(byte[] bytes) {
        return assertThrows(TaskFileException.class, () -> parser.parse(bytes, "x.md", mtime)).reason();
    }

    @Test
    void frontMatterFields() {
        Task t = parse("---\ntask_id: T-1\nfrom: BOT-000\nto: BOT-001\npriority: P1\ntimeout: 120\n"
                + "created_at: 2025-01-01T10:00:00Z\n# comment\nextra: ignored\n---\nDo the thing.\n", "f.md");
        assertEquals("T-1", t.taskId());
        assertEquals("BOT-000", t.from());
        assertEquals("BOT-001", t.to());
        assertEquals(1, t.priority());
        assertEquals(Duration.ofSeconds(120), t.timeout());
        assertEquals(Instant.parse("2025-01-01T10:00:00Z"), t.createdAt());
        assertEquals("Do the thing.", t.prompt());
    }

    @Test
    void numericPriorityQuotedValuesCrlfAndBom() {
        Task t = parse("\uFEFF---\r\ntask_id: \"Q-2\"\r\npriority: 0\r\ntimeout: 2 minutes\r\n---\r\nHi\r\n", "f.md");
        assertEquals("Q-2", t.taskId());
        assertEquals(0, t.priority());
        assertEquals(Duration.ofMinutes(2), t.timeout());
        assertEquals("Hi", t.prompt());
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'h', 'i'};
        assertEquals("hi", parser.parse(bom, "b.md", mtime).prompt());
    }

    @Test
    void originalDeiaBoldFields() {
        String text = "# Task\n\n**Task ID:** OLD-7\n**From:** BOT-000\n**To:** BOT-003\n**Priority:** P3\n"
                + "**Timeout:** 120 seconds\n\nPlease refactor.\n";
        Task t = parse(text, "2025-old.md");
        assertEquals("OLD-7", t.taskId());
        assertEquals("BOT-000", t.from());
        assertEquals("BOT-003", t.to());
        assertEquals(3, t.priority());
        assertEquals(Duration.ofSeconds(120), t.timeout());
        assertEquals(mtime, t.createdAt());
        assertTrue(t.prompt().contains("Please refactor."));
        Task lenient = parse("**Priority:** whenever\n**Timeout:** soon\nText", "lenient.md");
        assertEquals(Task.DEFAULT_PRIORITY, lenient.priority());
        assertNull(lenient.timeout());
        assertEquals(1, parse("**Priority:** High\nx", "h.md").priority());
    }

    @Test
    void taskIdFallsBackToTheFileName() {
        assertEquals("plain", parse("just a prompt", "plain.md").taskId());
        assertEquals("my_task__", parse("x", "my task ü.md").taskId());
        assertEquals("task", TaskIds.fromFileName("...md"));
        assertTrue(TaskIds.isValid(TaskIds.generate()));
    }

    @Test
    void refusalsHaveTypes() {
        assertEquals(TaskFileException.Reason.EMPTY, refused(new byte[0]));
        assertEquals(TaskFileException.Reason.EMPTY, refused("---\ntask_id: A\n---\n   \n".getBytes(StandardCharsets.UTF_8)));
        assertEquals(TaskFileException.Reason.BINARY, refused(new byte[]{'a', 0, 'b'}));
        assertEquals(TaskFileException.Reason.INVALID_UTF8, refused(new byte[]{'a', (byte) 0xC3, '(', 'b'}));
        assertEquals(TaskFileException.Reason.TOO_LARGE, refused(new byte[1001]));
        for (String bad : new String[]{"---\ntask_id: A\nno closing\n", "---\nthis is not a field\n---\nx",
                "---\npriority: P9\n---\nx", "---\ntimeout: forever\n---\nx", "---\ncreated_at: yesterday\n---\nx",
                "---\ntask_id: ../etc\n---\nx"}) {
            TaskFileException e = assertThrows(TaskFileException.class, () -> parse(bad, "bad.md"), bad);
            assertEquals(TaskFileException.Reason.BAD_FRONT_MATTER, e.reason(), bad);
            assertTrue(e.getMessage().contains("bad.md"), e.getMessage());
        }
    }

    @Test
    void fromFilesRefusesLinksFoldersAndNames(@TempDir Path dir) throws Exception {
        Path good = Files.writeString(dir.resolve("good.md"), "hello");
        assertEquals("hello", parser.parse(good, "good.md").prompt());
        Path link = Files.createSymbolicLink(dir.resolve("link.md"), good);
        assertEquals(TaskFileException.Reason.NOT_A_FILE, assertThrows(TaskFileException.class, () -> parser.parse(link, "link.md")).reason());
        Path folder = Files.createDirectory(dir.resolve("folder.md"));
        assertEquals(TaskFileException.Reason.NOT_A_FILE, assertThrows(TaskFileException.class, () -> parser.parse(folder, "folder.md")).reason());
        Path txt = Files.writeString(dir.resolve("note.txt"), "hello");
        assertEquals(TaskFileException.Reason.BAD_NAME, assertThrows(TaskFileException.class, () -> parser.parse(txt, "note.txt")).reason());
        Path big = Files.write(dir.resolve("big.md"), new byte[5000]);
        assertEquals(TaskFileException.Reason.TOO_LARGE, assertThrows(TaskFileException.class, () -> parser.parse(big, "big.md")).reason());
        assertEquals(TaskFileException.Reason.UNREADABLE,
                assertThrows(TaskFileException.class, () -> parser.parse(dir.resolve("gone.md"), "gone.md")).reason());
    }

    @Test
    void withTaskIdAddsOrExtendsFrontMatter() {
        String added = TaskFileParser.withTaskId("Do it", "T-9");
        assertEquals("T-9", parse(added, "x.md").taskId());
        assertEquals("Do it", parse(added, "x.md").prompt());
        String extended = TaskFileParser.withTaskId("---\npriority: P0\n---\nGo", "T-10");
        Task t = parse(extended, "x.md");
        assertEquals("T-10", t.taskId());
        assertEquals(0, t.priority());
        assertTrue(parser.declaresTaskId(extended, "x"));
        assertFalse(parser.declaresTaskId("Go", "x"));
        assertThrows(io.deia.core.DeiaException.class, () -> TaskFileParser.withTaskId("x", "a/b"));
    }
}
