package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.bot.BotRuntime;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.GitRepos;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.deia.core.testkit.GitRepos.git;
import static io.deia.core.testkit.GitRepos.tip;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Review of work done by a real bot in process: a {@code command} agent writing files in its
 * worktree ({@link GitRepos#WRITER_SCRIPT}), the real task inbox and response files, then diff,
 * merge and discard as the controller does them — one discard while the bot's turn still runs.
 */
class ProjectReviewWithBotTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String BOT = "BOT-REV";

    @TempDir
    Path dir;

    private BotRuntime bot;
    private HiveLayout hive;
    private Path repo;
    private Path gate;
    private DeiaConfig config;
    private FileTaskQueue tasks;

    @BeforeEach
    void start() throws Exception {
        repo = GitRepos.init(dir.resolve("repo"));
        hive = new HiveLayout(dir.resolve("hive"));
        gate = dir.resolve("gate");
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", GitRepos.WRITER_SCRIPT, "sh", gate.toString())).promptMode("stdin").timeoutS(30).build();
        config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(Map.of("writer", profile))
                .projects(Map.of("shop", new Project("shop", repo, "main", List.of(), null))).build();
        tasks = new FileTaskQueue(hive, config);
        Profile named = config.requireProfile("writer");
        BotWorktree worktree = BotWorktree.of(hive, config.requireProject("shop"), BOT);
        worktree.ensure();
        bot = BotRuntime.builder().botId(BOT).profile(named).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config))
                .agent(Agents.create(new AgentContext(BOT, named, hive, System.getenv(), worktree.dir())))
                .worktree(worktree).port(18970).build().start();
    }

    @AfterEach
    void stop() {
        if (bot != null) {
            bot.close();
        }
    }

    private void submit(String taskId, String prompt) {
        tasks.submit(BOT, "---\ntask_id: " + taskId + "\n---\n" + prompt + "\n");
    }

    private void awaitResponse(String taskId) {
        await().atMost(WAIT).until(() -> tasks.response(BOT, taskId).isPresent());
    }

    @Test
    void aBotsTaskIsDiffedAndMergedIntoTheUsersCheckout() throws Exception {
        submit("T-1", "write docs/hello.txt hi from the bot");
        awaitResponse("T-1");
        ProjectReview review = new ProjectReview(hive, config);

        TaskDiff d = review.diff(BOT, "T-1");
        assertEquals(List.of(new TaskDiff.FileChange("docs/hello.txt", null, "added", 1, 0, false)), d.files());
        assertTrue(d.patch().contains("+hi from the bot"), d.patch());

        ProjectReview.Merged m = review.merge(BOT, "T-1");
        assertTrue(m.fastForward());
        assertEquals(tip(repo, "main"), m.commit());
        assertEquals("hi from the bot\n", Files.readString(repo.resolve("docs/hello.txt")));
        assertEquals("", git(repo, "status", "--porcelain"));
    }

    @Test
    void discardWaitsForTheTurnThenMovesTheWorktreeToItsChatBranch() throws Exception {
        submit("T-1", "write one.txt first");
        awaitResponse("T-1");
        // T-2's turn holds the worktree until the gate file exists.
        submit("T-2", "wait two.txt second");
        Path two = BotWorktree.of(hive, config.requireProject("shop"), BOT).dir().resolve("two.txt");
        await().atMost(WAIT).until(() -> Files.exists(two));
        ProjectReview review = new ProjectReview(hive, config);

        DeiaException busy = assertThrows(DeiaException.class, () -> review.discard(BOT, "T-2"));
        assertEquals(ErrorCode.CONFLICT, busy.code());
        // T-1's branch is not the one the worktree is on: it goes at once.
        assertEquals("refs/deia/discarded/BOT-REV/T-1", review.discard(BOT, "T-1").keptAs());

        Files.writeString(gate, "go");
        awaitResponse("T-2");
        ProjectReview.Discarded d = review.discard(BOT, "T-2");

        assertEquals("second\n", GitRepos.git(repo, "show", d.commit() + ":two.txt"));
        Path worktree = BotWorktree.of(hive, config.requireProject("shop"), BOT).dir();
        assertEquals("deia/BOT-REV/chat", git(worktree, "branch", "--show-current").strip());
        assertEquals(tip(repo, "main"), tip(worktree, "HEAD"));
        assertFalse(Files.exists(two));
        assertFalse(GitRepos.hasBranch(repo, "deia/BOT-REV/T-2"));

        // The bot goes on working from there.
        submit("T-3", "write three.txt third");
        awaitResponse("T-3");
        assertEquals(List.of("three.txt"), review.diff(BOT, "T-3").files().stream().map(TaskDiff.FileChange::path).toList());
    }
}
