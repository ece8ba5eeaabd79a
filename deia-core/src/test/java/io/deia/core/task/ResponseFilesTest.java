package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.project.TaskChange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResponseFilesTest {

    private static TaskResponse response(String id, TaskStatus status, String output, String error, Instant finished) {
        return new TaskResponse(id, "BOT-001", status, 2, finished.minusMillis(1500), finished, 1500, 1, "command",
                0.25, 100L, 20L, "sess: 1", output, error, null);
    }

    @Test
    void listingSkipsAndNamesUnreadableResponsesWithoutTheirPath(@TempDir Path hive) throws Exception {
        HiveLayout layout = new HiveLayout(hive);
        ResponseFiles rf = new ResponseFiles(layout);
        Instant t = Instant.parse("2025-01-01T10:00:00Z");
        rf.write(response("T-GOOD", TaskStatus.COMPLETED, "fine", null, t), "a/1", null);
        Path dir = layout.responsesDir("BOT-001");
        Files.writeString(dir.resolve("T-BAD-STATUS.response.md"), "---\ntask_id: T-BAD-STATUS\nstatus: exploded\n---\nx\n");
        Files.writeString(dir.resolve("T-NO-FM.response.md"), "just text, no front matter\n");
        Files.writeString(dir.resolve("T-BAD-TIME.response.md"), "---\ntask_id: T-BAD-TIME\nstatus: completed\nfinished_at: soon\n---\n");

        TaskQueue.ResponseListing listing = rf.listing("BOT-001", 50);
        assertEquals(java.util.List.of("T-GOOD"), listing.responses().stream().map(TaskResponse::taskId).toList());
        assertEquals(java.util.Set.of("T-BAD-STATUS.response.md", "T-NO-FM.response.md", "T-BAD-TIME.response.md"),
                listing.skipped().stream().map(TaskQueue.Skipped::file).collect(java.util.stream.Collectors.toSet()));
        for (TaskQueue.Skipped s : listing.skipped()) {
            assertTrue(s.reason().startsWith(s.file()), s.toString());
            assertTrue(!s.reason().contains(hive.toString()), "no absolute path: " + s);
        }
        assertTrue(listing.skipped().stream().anyMatch(s -> s.reason().contains("unknown status 'exploded'")), listing.toString());
        // The queue's plain list is the same, unreadable ones left out (it used to fail whole).
        assertEquals(1, new FileTaskQueue(layout, io.deia.core.config.DeiaConfig.of(java.util.Map.of())).responses("BOT-001", 10).size());
        // Reading one response by id names it relative to the hive.
        io.deia.core.DeiaException e = org.junit.jupiter.api.Assertions.assertThrows(io.deia.core.DeiaException.class,
                () -> rf.read("BOT-001", "T-NO-FM"));
        assertTrue(e.getMessage().startsWith("hive/responses/BOT-001/T-NO-FM.response.md has no front matter"), e.getMessage());
    }

    @Test
    void theProjectFieldsOfATaskAreWrittenReadBackAndFlatInJson(@TempDir Path hive) {
        ResponseFiles rf = new ResponseFiles(new HiveLayout(hive));
        Instant t = Instant.parse("2025-01-01T10:00:02.456Z");
        String base = "3f2a0c9e1b7d4a6f8e2c5b9d0a1f3e7c6b8d2a4f";
        String tip = "9c1e7b3d5f2a8c6e4b0d9f1a3c5e7b2d4f6a8c0e";
        TaskChange change = new TaskChange("shop", "deia/BOT-001/T-P", base, tip, 2, 14, 3);
        TaskResponse withChange = new TaskResponse("T-P", "BOT-001", TaskStatus.COMPLETED, 1, t, t, 0, 0, "command",
                null, null, null, null, "done", null, change);
        String text = AtomicFiles.readString(rf.write(withChange, "a/1", null));
        assertTrue(text.contains("\nclaim: a/1\nproject: shop\nbranch: deia/BOT-001/T-P\nbase_commit: " + base
                + "\ncommit: " + tip + "\nfiles_changed: 2\ninsertions: 14\ndeletions: 3\n---\n"), text);
        assertEquals(change, rf.read("BOT-001", "T-P").orElseThrow().change());

        // A task that changed nothing: no commit field; a bot without a project: none of the fields.
        TaskChange nothing = new TaskChange("shop", "deia/BOT-001/T-N", base, null, 0, 0, 0);
        String none = AtomicFiles.readString(rf.write(new TaskResponse("T-N", "BOT-001", TaskStatus.COMPLETED, 1, t, t,
                0, 0, "command", null, null, null, null, "", null, nothing), "a/2", null));
        assertFalse(none.replace("base_commit:", "").contains("commit:"), none);
        assertEquals(nothing, rf.read("BOT-001", "T-N").orElseThrow().change());
        String plain = AtomicFiles.readString(rf.write(response("T-X", TaskStatus.COMPLETED, "x", null, t), "a/3", null));
        for (String key : List.of("project:", "branch:", "base_commit:", "files_changed:", "insertions:", "deletions:")) {
            assertFalse(plain.contains(key), plain);
        }
        assertNull(rf.read("BOT-001", "T-X").orElseThrow().change());

        // The controller's task list is these records in JSON: the fields sit beside the others.
        String json = Json.write(rf.read("BOT-001", "T-P").orElseThrow());
        assertTrue(json.contains("\"task_id\":\"T-P\"") && json.contains("\"project\":\"shop\"")
                && json.contains("\"branch\":\"deia/BOT-001/T-P\"") && json.contains("\"base_commit\":\"" + base + "\"")
                && json.contains("\"commit\":\"" + tip + "\"") && json.contains("\"files_changed\":2")
                && json.contains("\"insertions\":14") && json.contains("\"deletions\":3"), json);
        assertFalse(json.contains("\"change\""), json);
        String noCommit = Json.write(rf.read("BOT-001", "T-N").orElseThrow());
        assertFalse(noCommit.contains("\"commit\""), noCommit);
        String noProject = Json.write(rf.read("BOT-001", "T-X").orElseThrow());
        assertFalse(noProject.contains("\"branch\"") || noProject.contains("\"files_changed\""), noProject);
    }

    @Test
    void aDamagedProjectFieldIsRefusedNamingTheFile(@TempDir Path hive) throws Exception {
        HiveLayout layout = new HiveLayout(hive);
        Path dir = Files.createDirectories(layout.responsesDir("BOT-001"));
        Files.writeString(dir.resolve("T-D.response.md"),
                "---\ntask_id: T-D\nstatus: completed\nbranch: deia/BOT-001/T-D\nfiles_changed: many\n---\n");
        io.deia.core.DeiaException e = org.junit.jupiter.api.Assertions.assertThrows(io.deia.core.DeiaException.class,
                () -> new ResponseFiles(layout).read("BOT-001", "T-D"));
        assertTrue(e.getMessage().contains("T-D.response.md: bad response field"), e.getMessage());
    }

    @Test
    void roundTripWithErrorSection(@TempDir Path hive) {
        ResponseFiles rf = new ResponseFiles(new HiveLayout(hive));
        Instant t = Instant.parse("2025-01-01T10:00:02.456Z");
        Path p = rf.write(response("T-1", TaskStatus.FAILED, "partial output\n## Error\nin the output", "boom: it broke", t),
                "o-1-2-ab/3", "my task.md");
        assertEquals("T-1.response.md", p.getFileName().toString());
        String text = AtomicFiles.readString(p);
        assertTrue(text.startsWith("---\ntask_id: T-1\nbot_id: BOT-001\nstatus: failed\nattempt: 2\n"
                + "started_at: 2025-01-01T10:00:00.956Z\nfinished_at: 2025-01-01T10:00:02.456Z\nduration_ms: 1500\n"
                + "exit_code: 1\nagent: command\ncost_usd: 0.25\ninput_tokens: 100\noutput_tokens: 20\n"
                + "session_id: \"sess: 1\"\nclaim: o-1-2-ab/3\ntask_file: \"my task.md\"\n---\n"), text);
        assertTrue(text.endsWith("\n## Error\n\nboom: it broke\n"), text);
        TaskResponse back = rf.read("BOT-001", "T-1").orElseThrow();
        assertEquals(TaskStatus.FAILED, back.status());
        assertEquals("partial output\n## Error\nin the output", back.output());
        assertEquals("boom: it broke", back.error());
        assertEquals("sess: 1", back.sessionId());
        assertEquals(0.25, back.costUsd());
        assertEquals(t, back.finishedAt());
        assertTrue(rf.findByClaim("BOT-001", "T-1", "o-1-2-ab/3").isPresent());
        assertTrue(rf.findByClaim("BOT-001", "T-1", "o-9-9-ff/1").isEmpty());
    }

    @Test
    void aSecondResponseGetsASuffixAndNothingIsOverwritten(@TempDir Path hive) throws Exception {
        ResponseFiles rf = new ResponseFiles(new HiveLayout(hive));
        Instant t = Instant.parse("2025-01-01T10:00:00Z");
        Path first = rf.write(response("T-1", TaskStatus.COMPLETED, "one", null, t), "a/1", null);
        String before = Files.readString(first);
        Path second = rf.write(response("T-1", TaskStatus.COMPLETED, "two", null, t.plusSeconds(1)), "b/1", null);
        Path third = rf.write(response("T-1", TaskStatus.REJECTED, "", "bad", t.plusSeconds(2)), "c/1", null);
        assertEquals("T-1-2.response.md", second.getFileName().toString());
        assertEquals("T-1-3.response.md", third.getFileName().toString());
        assertEquals(before, Files.readString(first));
        assertEquals("T-1-2", rf.read("BOT-001", "T-1-2").orElseThrow().taskId());
        assertTrue(rf.findByClaim("BOT-001", "T-1", "c/1").orElseThrow().endsWith("T-1-3.response.md"));
        List<TaskResponse> all = rf.listing("BOT-001", 2).responses();
        assertEquals(List.of("T-1-3", "T-1-2"), all.stream().map(TaskResponse::taskId).toList());
        assertNull(all.get(1).error());
        assertEquals("bad", all.get(0).error());
        assertTrue(rf.read("BOT-001", "../x").isEmpty());
        assertTrue(rf.listing("BOT-002", 5).responses().isEmpty());
    }
}
