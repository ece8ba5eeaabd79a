package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.testkit.ReviewRepo;
import io.deia.server.Main;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code task diff|merge|discard|restore} on a real repository, with their exit codes. */
class TaskReviewCommandsTest {
    @TempDir
    Path dir;

    private ReviewRepo repo;
    private Path config;

    private record Run(int code, String out, String err) {
    }

    @BeforeEach
    void repository() throws Exception {
        repo = ReviewRepo.create(dir);
        config = dir.resolve("deia.json");
        Files.writeString(config, Json.writePretty(Map.of("projects",
                Map.of(ReviewRepo.PROJECT, Map.of("path", repo.repo().toString(), "base", "main")))));
    }

    private Run task(String... args) {
        String[] all = new String[args.length + 5];
        all[0] = "task";
        System.arraycopy(args, 0, all, 1, args.length);
        all[args.length + 1] = "--hive";
        all[args.length + 2] = repo.hive().root().toString();
        all[args.length + 3] = "--config";
        all[args.length + 4] = config.toString();
        return run(all);
    }

    private static Run run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void diffPrintsTheFilesAndThePatchOrTheJsonOfTheApi() {
        repo.taskText("BOT-1", "T-1", Map.of("dir/ñame with space.txt", "hi\n", "README.md", "changed\n"));

        Run text = task("diff", "BOT-1", "T-1");
        assertEquals(0, text.code, text.err);
        assertTrue(text.out.startsWith("deia/BOT-1/T-1 against main"), text.out);
        assertTrue(text.out.contains("added") && text.out.contains("+1 -0") && text.out.contains("dir/ñame with space.txt"), text.out);
        assertTrue(text.out.contains("2 files changed"), text.out);
        assertTrue(text.out.contains("+++ b/dir/ñame with space.txt"), text.out);

        Run json = task("diff", "BOT-1", "T-1", "--json");
        assertEquals(0, json.code, json.err);
        JsonNode d = Json.read(json.out, JsonNode.class, "diff");
        assertEquals("deia/BOT-1/T-1", d.get("branch").asText());
        assertEquals(2, d.get("files").size());
        assertFalse(d.get("truncated").asBoolean());
    }

    @Test
    void mergeExitsZeroAndAConflictExitsThreeListingTheFilesWithNothingChanged() throws Exception {
        String tip = repo.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        Run merged = task("merge", "BOT-1", "T-1");
        assertEquals(0, merged.code, merged.err);
        assertTrue(merged.out.contains("fast-forward") && merged.out.contains(tip.substring(0, 10)), merged.out);
        assertEquals(tip, repo.main());

        repo.taskText("BOT-1", "T-2", Map.of("README.md", "bot\n"));
        String userTip = repo.userCommit(Map.of("README.md", "user\n"));
        Run conflict = task("merge", "BOT-1", "T-2");
        assertEquals(TaskReviewCommands.CONFLICT, conflict.code, conflict.out + conflict.err);
        assertTrue(conflict.err.contains("conflicts") && conflict.err.contains("  README.md"), conflict.err);
        assertEquals(userTip, repo.main());
        assertEquals("user\n", Files.readString(repo.repo().resolve("README.md")));

        // A dirty checkout of base: refused the same way, the edit intact.
        repo.taskText("BOT-1", "T-3", Map.of("other.txt", "o\n"));
        ReviewRepo.write(repo.repo().resolve("README.md"), "unsaved\n");
        Run dirty = task("merge", "BOT-1", "T-3");
        assertEquals(TaskReviewCommands.CONFLICT, dirty.code, dirty.err);
        assertTrue(dirty.err.contains("uncommitted") && dirty.err.contains("  README.md"), dirty.err);
        assertEquals("unsaved\n", Files.readString(repo.repo().resolve("README.md")));
    }

    @Test
    void discardThenRestoreThenRestoreAgainFails() {
        String tip = repo.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));

        Run discarded = task("discard", "BOT-1", "T-1", "--json");
        assertEquals(0, discarded.code, discarded.err);
        assertEquals("refs/deia/discarded/BOT-1/T-1", Json.read(discarded.out, JsonNode.class, "discard").get("kept_as").asText());

        Run restored = task("restore", "BOT-1", "T-1");
        assertEquals(0, restored.code, restored.err);
        assertEquals("restored deia/BOT-1/T-1 at " + tip.substring(0, 10) + "\n", restored.out);

        Run again = task("restore", "BOT-1", "T-1");
        assertEquals(1, again.code);
        assertTrue(again.err.contains("nothing of task T-1"), again.err);

        task("discard", "BOT-1", "T-1");
        ReviewRepo.git(repo.repo(), "branch", "deia/BOT-1/T-1", "main");
        assertEquals(TaskReviewCommands.CONFLICT, task("restore", "BOT-1", "T-1").code);
    }

    @Test
    void badIdsAndUnknownProjectsAreUsageErrorsAndAMissingBranchIsAFailure() {
        repo.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));

        assertEquals(2, task("diff", "BOT-1", "../T-1").code);
        assertEquals(2, task("merge", "BOT/../1", "T-1").code);
        assertEquals(2, task("merge", "BOT-1").code, "missing task id");
        assertEquals(1, task("diff", "BOT-1", "T-NEVER").code);
        assertEquals(1, task("diff", "BOT-NOBODY", "T-1").code);
        repo.writeResponse("BOT-1", "T-1", "gone");
        Run unknown = task("diff", "BOT-1", "T-1");
        assertEquals(2, unknown.code);
        assertTrue(unknown.err.contains("gone"), unknown.err);
    }

    @Test
    void hiveOptionsMayComeBeforeTheSubcommandAndHelpNamesTheExitCodes() {
        String tip = repo.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));

        Run r = run("task", "--hive", repo.hive().root().toString(), "--config", config.toString(), "merge", "BOT-1", "T-1");
        assertEquals(0, r.code, r.err);
        assertEquals(tip, repo.main());

        for (String command : new String[]{"diff", "merge", "discard", "restore"}) {
            Run help = run("task", command, "--help");
            assertEquals(0, help.code);
            assertTrue(help.out.contains("Exit codes:") && help.out.contains("3   conflict"), help.out);
        }
    }
}
