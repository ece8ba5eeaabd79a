package io.deia.core.project;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.Json;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.ReviewRepo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ProjectReview#diff} on real repositories. */
class ProjectReviewDiffTest {
    @TempDir
    Path dir;

    @Test
    void diffListsEveryKindOfChangeWithExactNamesAndABinaryFile() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.userCommit(Map.of("old name.txt", "one\ntwo\nthree\nfour\nfive\n", "gone.txt", "bye\n"));
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("README.md", "shop\nmore\n".getBytes(StandardCharsets.UTF_8));
        files.put("dir with space/ünïcødé ñame.txt", "héllo\n".getBytes(StandardCharsets.UTF_8));
        files.put("logo.bin", new byte[]{0, 1, 2, 3, (byte) 0xff, 0, 7});
        files.put("gone.txt", null);
        files.put("old name.txt", null);
        files.put("new name.txt", "one\ntwo\nthree\nfour\nfive\n".getBytes(StandardCharsets.UTF_8));
        String tip = r.task("BOT-1", "T-1", files);
        String baseAtStart = r.main();

        TaskDiff d = new ProjectReview(r.hive(), r.config()).diff("BOT-1", "T-1");

        assertEquals("deia/BOT-1/T-1", d.branch());
        assertEquals("main", d.base());
        assertEquals(baseAtStart, d.mergeBase());
        assertEquals(tip, d.commit());
        assertFalse(d.truncated());
        Map<String, TaskDiff.FileChange> byPath = d.files().stream()
                .collect(Collectors.toMap(TaskDiff.FileChange::path, Function.identity()));
        assertEquals(5, byPath.size(), byPath.toString());
        assertEquals(new TaskDiff.FileChange("README.md", null, "modified", 1, 0, false), byPath.get("README.md"));
        assertEquals(new TaskDiff.FileChange("dir with space/ünïcødé ñame.txt", null, "added", 1, 0, false),
                byPath.get("dir with space/ünïcødé ñame.txt"));
        assertEquals(new TaskDiff.FileChange("logo.bin", null, "added", null, null, true), byPath.get("logo.bin"));
        assertEquals(new TaskDiff.FileChange("gone.txt", null, "deleted", 0, 1, false), byPath.get("gone.txt"));
        assertEquals(new TaskDiff.FileChange("new name.txt", "old name.txt", "renamed", 0, 0, false), byPath.get("new name.txt"));
        assertTrue(d.patch().contains("+++ b/dir with space/ünïcødé ñame.txt"), d.patch());
        assertTrue(d.patch().contains("+héllo"), d.patch());
        assertTrue(d.patch().contains("Binary files /dev/null and b/logo.bin differ"), d.patch());

        // As a client reads it: snake_case, and a binary file's counts present as null.
        JsonNode json = Json.read(Json.write(d), JsonNode.class, "diff");
        assertEquals(baseAtStart, json.get("merge_base").asText());
        JsonNode bin = null;
        for (JsonNode f : json.get("files")) {
            if (f.get("path").asText().equals("logo.bin")) {
                bin = f;
            }
        }
        assertTrue(bin.has("insertions") && bin.get("insertions").isNull(), bin.toString());
        assertTrue(bin.get("binary").asBoolean());
    }

    @Test
    void diffIsAgainstTheMergeBaseSoTheUsersCommitsSinceAreNotInIt() {
        ReviewRepo r = ReviewRepo.create(dir);
        String start = r.main();
        r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        r.userCommit(Map.of("user.txt", "u\n"));

        TaskDiff d = new ProjectReview(r.hive(), r.config()).diff("BOT-1", "T-1");

        assertEquals(start, d.mergeBase());
        assertEquals(List.of("feature.txt"), d.files().stream().map(TaskDiff.FileChange::path).toList());
    }

    @Test
    void aPatchOverTwoMebibytesIsCutAtALineEnd() {
        ReviewRepo r = ReviewRepo.create(dir);
        StringBuilder big = new StringBuilder();
        while (big.length() < 3 * 1024 * 1024) {
            big.append("line ").append(big.length()).append(" ü\n");
        }
        r.taskText("BOT-1", "T-BIG", Map.of("big.txt", big.toString(), "small.txt", "s\n"));

        TaskDiff d = new ProjectReview(r.hive(), r.config()).diff("BOT-1", "T-BIG");

        assertTrue(d.truncated());
        int bytes = d.patch().getBytes(StandardCharsets.UTF_8).length;
        assertTrue(bytes <= TaskDiff.MAX_PATCH_BYTES && bytes > TaskDiff.MAX_PATCH_BYTES - 100, "patch bytes " + bytes);
        assertTrue(d.patch().endsWith("\n"));
        assertFalse(d.patch().contains("\uFFFD"), "no character is cut in half");
        // The file list is complete even when the patch is not.
        assertEquals(2, d.files().size());
    }

    @Test
    void aFiveHundredFileChangeIsReadWithinASecond() {
        ReviewRepo r = ReviewRepo.create(dir);
        Map<String, String> files = new LinkedHashMap<>();
        for (int i = 0; i < 500; i++) {
            files.put("src/pkg" + (i % 10) + "/File" + i + ".java", "class File" + i + " {\n    int x = " + i + ";\n}\n");
        }
        r.taskText("BOT-1", "T-500", files);
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        review.diff("BOT-1", "T-500");

        long start = System.nanoTime();
        TaskDiff d = review.diff("BOT-1", "T-500");
        long ms = (System.nanoTime() - start) / 1_000_000;

        assertEquals(500, d.files().size());
        assertTrue(ms <= 1000, "diff of 500 files took " + ms + " ms");
    }

    @Test
    void unknownTaskMissingBranchBadIdsAndAProjectGoneFromTheConfigAreRefusedWithTheirCodes() {
        ReviewRepo r = ReviewRepo.create(dir);
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        // Neither a response nor a binding: the bot never worked on a project.
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.diff("BOT-1", "T-1")).code());

        r.taskText("BOT-1", "T-1", Map.of("a.txt", "a\n"));
        // Bound to the project now, but task T-2 never ran: no branch.
        DeiaException noBranch = assertThrows(DeiaException.class, () -> review.diff("BOT-1", "T-2"));
        assertEquals(ErrorCode.NOT_FOUND, noBranch.code());
        assertTrue(noBranch.getMessage().contains("deia/BOT-1/T-2"), noBranch.getMessage());

        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> review.diff("BOT-1", "../x")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> review.diff("BOT-1", "a/b")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> review.diff("../BOT", "T-1")).code());

        r.writeResponse("BOT-1", "T-1", "elsewhere");
        DeiaException gone = assertThrows(DeiaException.class, () -> review.diff("BOT-1", "T-1"));
        assertEquals(ErrorCode.UNPROCESSABLE, gone.code());
        assertTrue(gone.getMessage().contains("elsewhere"), gone.getMessage());
    }

    @Test
    void theResponsesProjectWinsOverTheBotsBindingAndABindingAloneIsEnoughWhileATaskRuns() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("a.txt", "a\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());

        // A running task has no response yet: the binding names the project.
        r.writeResponse("BOT-1", "T-1", null);
        assertEquals(ReviewRepo.PROJECT, review.projectOf("BOT-1", "T-1").name());
        assertEquals(1, review.diff("BOT-1", "T-1").files().size());

        // A response in quotes (as the response writer quotes odd values) is read too.
        ReviewRepo.write(r.hive().responsesDir("BOT-1").resolve("T-1.response.md"),
                "---\ntask_id: T-1\nproject: \"shop\"\n---\n\nok\n");
        assertEquals(ReviewRepo.PROJECT, review.projectOf("BOT-1", "T-1").name());

        ReviewRepo.write(r.hive().responsesDir("BOT-1").resolve("T-1.response.md"), "---\nproject: other\n---\n");
        assertEquals(ErrorCode.UNPROCESSABLE, assertThrows(DeiaException.class, () -> review.projectOf("BOT-1", "T-1")).code());
    }

    @Test
    void theProjectIsReadFromAResponseAsTheRunnerWritesIt() {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("a.txt", "a\n"));
        TaskChange change = r.worktree("BOT-1").changeOf("T-1").orElseThrow();
        ReviewRepo other = ReviewRepo.create(dir.resolve("other"));
        // Bound to no project at all: only the response can name it.
        ProjectReview review = new ProjectReview(other.hive(), r.config());
        new ResponseFiles(other.hive()).write(new TaskResponse("T-1", "BOT-1",
                TaskStatus.COMPLETED, 1, null, null, 0, 0, "command", null, null, null, null, "done", null,
                change), null, null);

        assertEquals(ReviewRepo.PROJECT, review.projectOf("BOT-1", "T-1").name());
        assertEquals(tip, review.diff("BOT-1", "T-1").commit());
    }

    @Test
    void aRepositoryGoneFromDiskIsUnprocessable() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("a.txt", "a\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        Files.move(r.repo().resolve(".git"), dir.resolve("moved-git"));

        DeiaException e = assertThrows(DeiaException.class, () -> review.diff("BOT-1", "T-1"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertNull(e.details().get("files"));
    }
}
