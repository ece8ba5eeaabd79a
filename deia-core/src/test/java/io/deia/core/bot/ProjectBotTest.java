package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.GitLock;
import io.deia.core.project.Project;
import io.deia.core.project.TaskChange;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import io.deia.core.testkit.GitRepos;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.deia.core.testkit.GitRepos.branches;
import static io.deia.core.testkit.GitRepos.filesOf;
import static io.deia.core.testkit.GitRepos.git;
import static io.deia.core.testkit.GitRepos.show;
import static io.deia.core.testkit.GitRepos.tip;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bots on a project, in process: a real git repository made here, real {@code command} agents
 * (shell scripts writing files in their worktree, {@link GitRepos#WRITER_SCRIPT}), the real task
 * inbox. Every check reads the repository with the plain {@code git} program.
 */
class ProjectBotTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private final List<BotRuntime> runtimes = new ArrayList<>();
    private HiveLayout hive;
    private Path repo;
    private Path gate;
    private Project project;
    private DeiaConfig config;
    private FileTaskQueue tasks;

    @AfterEach
    void stopAll() {
        runtimes.forEach(BotRuntime::close);
    }

    /** A repository with one commit on main, a hive, and the project "shop" on it. */
    private void setUp(int maxAttempts) throws Exception {
        setUp(maxAttempts, Map.of());
    }

    /** The same, with more profiles beside "writer". */
    private void setUp(int maxAttempts, Map<String, Profile> more) throws Exception {
        repo = GitRepos.init(dir.resolve("repo"));
        hive = new HiveLayout(dir.resolve("hive"));
        gate = dir.resolve("gate");
        project = new Project("shop", repo, "main", List.of(), null);
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", GitRepos.WRITER_SCRIPT, "sh", gate.toString())).promptMode("stdin").timeoutS(30)
                .maxAttempts(maxAttempts).retryBackoffMs(10).build();
        Map<String, Profile> profiles = new java.util.HashMap<>(more);
        profiles.put("writer", profile);
        config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(profiles)
                .projects(Map.of("shop", project)).build();
        tasks = new FileTaskQueue(hive, config);
    }

    /** Starts bot {@code botId} on the project, the way the runner does: worktree first, then the agent in it. */
    private BotRuntime startBot(String botId) {
        return startBot(botId, "writer");
    }

    private BotRuntime startBot(String botId, String profileName) {
        Profile named = config.requireProfile(profileName);
        Map<String, String> parentEnv = new java.util.HashMap<>(System.getenv());
        parentEnv.put("DEIA_TEST_ANTHROPIC_KEY", "sk-ant-test-key");
        BotWorktree worktree = BotWorktree.of(hive, config.requireProject("shop"), botId);
        worktree.ensure();
        BotRuntime bot = BotRuntime.builder().botId(botId).profile(named).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config))
                .agent(Agents.create(new AgentContext(botId, named, hive, parentEnv, worktree.dir())))
                .worktree(worktree).port(18990 + runtimes.size()).build();
        runtimes.add(bot);
        return bot.start();
    }

    private Path worktree(String botId) {
        return project.worktree(hive, botId);
    }

    private TaskResponse runTask(String botId, String taskId, String prompt) {
        tasks.submit(botId, "---\ntask_id: " + taskId + "\n---\n" + prompt + "\n");
        await().atMost(WAIT).until(() -> tasks.response(botId, taskId).isPresent());
        return tasks.response(botId, taskId).orElseThrow();
    }

    private String responseText(String botId, String taskId) {
        return AtomicFiles.readString(hive.responsesDir(botId).resolve(taskId + ResponseFiles.SUFFIX));
    }

    /** Deletes a folder tree as a user's {@code rm -rf} would. */
    private static void deleteTree(Path top) throws Exception {
        try (var walk = Files.walk(top)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        assertFalse(Files.exists(top));
    }

    /** The user's own checkout is never touched: still on main, at {@code mainTip}, clean. */
    private void assertUserCheckoutUntouched(String mainTip) {
        assertEquals("main", git(repo, "symbolic-ref", "--short", "HEAD").strip());
        assertEquals(mainTip, tip(repo, "main"));
        assertEquals("", git(repo, "status", "--porcelain"));
    }

    @Test
    void tasksAndChatAreCommittedByDeiaOnTheirBranches() throws Exception {
        setUp(1);
        String base = tip(repo, "main");
        BotRuntime bot = startBot("BOT-001");
        assertEquals(worktree("BOT-001").toRealPath(), Path.of(git(worktree("BOT-001"), "rev-parse", "--show-toplevel").strip()).toRealPath());

        // Chat before any task: on the bot's own branch.
        TurnResult chat = bot.sendMessage("write notes/chat.txt from the chat\nwith a second line", "m1", null);
        assertEquals(TurnStatus.COMPLETED, chat.status(), chat.error());
        assertEquals("chat: write notes/chat.txt from the chat", show(repo, "deia/BOT-001/chat", "%s"));
        assertEquals("deia BOT-001", show(repo, "deia/BOT-001/chat", "%an"));
        assertEquals(List.of("notes/chat.txt"), filesOf(repo, "deia/BOT-001/chat"));

        // A task: its own branch from main's tip, committed with its first line and id.
        TaskResponse t1 = runTask("BOT-001", "T-1", "write hello.txt hi there\nthe rest of the task");
        assertEquals(TaskStatus.COMPLETED, t1.status(), t1.error());
        String t1Tip = tip(repo, "deia/BOT-001/T-1");
        assertEquals("write hello.txt hi there (T-1)", show(repo, t1Tip, "%s"));
        assertEquals("deia BOT-001 <BOT-001@deia.invalid>", show(repo, t1Tip, "%an <%ae>"));
        assertEquals(base, show(repo, t1Tip, "%P"), "the task branch starts at main's tip, not at the chat branch");
        assertEquals(List.of("hello.txt"), filesOf(repo, t1Tip));
        assertEquals(new TaskChange("shop", "deia/BOT-001/T-1", base, t1Tip, 1, 1, 0), t1.change());
        String text = responseText("BOT-001", "T-1");
        assertTrue(text.contains("\nproject: shop\nbranch: deia/BOT-001/T-1\nbase_commit: " + base + "\ncommit: " + t1Tip
                + "\nfiles_changed: 1\ninsertions: 1\ndeletions: 0\n"), text);

        // A follow-up chat refines the task's work, on the task's branch.
        TurnResult followUp = bot.sendMessage("append hello.txt also this", "m2", null);
        assertEquals(TurnStatus.COMPLETED, followUp.status(), followUp.error());
        assertEquals("chat: append hello.txt also this", show(repo, "deia/BOT-001/T-1", "%s"));
        assertEquals(t1Tip, show(repo, "deia/BOT-001/T-1", "%P"));
        assertEquals("hi there\nalso this\n", git(repo, "show", "deia/BOT-001/T-1:hello.txt"));

        // A task that changes nothing: a branch, no commit, and no commit field.
        TaskResponse t2 = runTask("BOT-001", "T-2", "look around and change nothing");
        assertEquals(TaskStatus.COMPLETED, t2.status(), t2.error());
        assertEquals(base, tip(repo, "deia/BOT-001/T-2"));
        assertEquals(new TaskChange("shop", "deia/BOT-001/T-2", base, null, 0, 0, 0), t2.change());
        String t2Text = responseText("BOT-001", "T-2");
        assertTrue(t2Text.contains("\nbranch: deia/BOT-001/T-2\nbase_commit: " + base + "\nfiles_changed: 0\n"), t2Text);
        assertFalse(t2Text.contains("\ncommit:"), t2Text);

        // A failed task is committed too: what the agent wrote before it broke is reviewable.
        TaskResponse t3 = runTask("BOT-001", "T-3", "fail broken.txt half done");
        assertEquals(TaskStatus.FAILED, t3.status());
        assertEquals("fail broken.txt half done (T-3)", show(repo, "deia/BOT-001/T-3", "%s"));
        assertNotNull(t3.change().commit());

        // UTF-8 in the prompt and in file names goes through to git unchanged.
        TaskResponse t4 = runTask("BOT-001", "T-4", "write données/naïve.txt voilà 完了");
        assertEquals(TaskStatus.COMPLETED, t4.status(), t4.error());
        assertEquals("write données/naïve.txt voilà 完了 (T-4)", show(repo, "deia/BOT-001/T-4", "%s"));
        assertEquals(List.of("données/naïve.txt"), filesOf(repo, "deia/BOT-001/T-4"));
        assertEquals("voilà 完了\n", git(repo, "show", "deia/BOT-001/T-4:données/naïve.txt"));

        assertEquals("deia/BOT-001/T-4", git(worktree("BOT-001"), "symbolic-ref", "--short", "HEAD").strip());
        assertEquals("", git(worktree("BOT-001"), "status", "--porcelain"), "nothing is left uncommitted");
        assertUserCheckoutUntouched(base);
    }

    @Test
    void aWorktreeDeletedByHandIsMadeAgainFromItsBranchOnTheNextTurn() throws Exception {
        setUp(1);
        BotRuntime bot = startBot("BOT-001");
        assertEquals(TaskStatus.COMPLETED, runTask("BOT-001", "T-1", "write a.txt first").status());
        Path wt = worktree("BOT-001");
        deleteTree(wt);

        TurnResult chat = bot.sendMessage("write b.txt after the delete", "m1", null);
        assertEquals(TurnStatus.COMPLETED, chat.status(), chat.error());
        assertEquals("deia/BOT-001/T-1", git(wt, "symbolic-ref", "--short", "HEAD").strip());
        assertEquals("first\n", Files.readString(wt.resolve("a.txt")), "the branch's work is back");
        assertEquals("chat: write b.txt after the delete", show(repo, "deia/BOT-001/T-1", "%s"));
        assertEquals(List.of("b.txt"), filesOf(repo, "deia/BOT-001/T-1"));

        // And tasks go on working there.
        deleteTree(wt);
        TaskResponse t2 = runTask("BOT-001", "T-2", "write c.txt again");
        assertEquals(TaskStatus.COMPLETED, t2.status(), t2.error());
        assertEquals(List.of("c.txt"), filesOf(repo, "deia/BOT-001/T-2"));
        assertEquals("", git(repo, "worktree", "prune", "--dry-run"), "no stale worktree entry is left");
    }

    @Test
    void claudeInAWorktreeDeletedByHandStartsAgainThereAndResumesItsSession() throws Exception {
        try (FakeAnthropicServer server = new FakeAnthropicServer()) {
            Profile claude = TestProfiles.profile(AgentType.CLAUDE_CODE, AgentClis.claude().toString(), List.of(), "sonnet",
                    "acceptEdits", List.of("Write"), Map.of("ANTHROPIC_BASE_URL", server.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"),
                    Map.of("ANTHROPIC_API_KEY", "DEIA_TEST_ANTHROPIC_KEY"));
            setUp(1, Map.of("claude", claude));
            BotRuntime bot = startBot("BOT-001", "claude");
            Path wt = worktree("BOT-001");

            TurnResult first = bot.sendMessage("Please WRITE_FILE " + wt.resolve("a.txt"), "m1", null);
            assertEquals(TurnStatus.COMPLETED, first.status(), first.error());
            assertEquals(List.of("a.txt"), filesOf(repo, "deia/BOT-001/chat"));
            Long firstPid = bot.status().agentHealth().pid();
            assertNotNull(firstPid, "claude stays up between turns");

            deleteTree(wt);
            TurnResult second = bot.sendMessage("Please WRITE_FILE " + wt.resolve("b.txt"), "m2", null);
            assertEquals(TurnStatus.COMPLETED, second.status(), second.error());
            assertEquals(List.of("b.txt"), filesOf(repo, "deia/BOT-001/chat"));
            assertTrue(Files.exists(wt.resolve("a.txt")), "the worktree came back from its branch");
            Long secondPid = bot.status().agentHealth().pid();
            assertNotNull(secondPid);
            assertFalse(firstPid.equals(secondPid), "the process in the deleted folder was replaced");
            assertEquals(first.sessionId(), second.sessionId(), "the session was resumed in the new folder");
            assertTrue(server.lastRequestUserText().contains("WRITE_FILE " + wt.resolve("a.txt")), server.lastRequestUserText());
        }
    }

    @Test
    void everyTurnHoldsTheWorktreeLockSoTheControllerNeverSwitchesItUnderAnAgent() throws Exception {
        setUp(1);
        BotRuntime bot = startBot("BOT-001");
        Path wt = worktree("BOT-001");

        // A task's turn holds the lock: the controller's try finds the bot busy.
        tasks.submit("BOT-001", "---\ntask_id: T-L\n---\nwait held.txt while held\n");
        await().atMost(WAIT).until(() -> Files.exists(wt.resolve("held.txt")));
        assertTrue(GitLock.tryWorktree(hive, "BOT-001").isEmpty(), "busy while the agent works");
        Files.writeString(gate, "go");
        await().atMost(WAIT).until(() -> tasks.response("BOT-001", "T-L").isPresent());

        // The controller holds the lock (a discard switching the worktree): a chat turn waits for it.
        GitLock held = GitLock.tryWorktree(hive, "BOT-001").orElseThrow();
        CompletableFuture<TurnResult> chat;
        try {
            chat = bot.submitMessage("write waited.txt after the lock", "m1", null);
            await().atMost(WAIT).until(() -> bot.state() == BotState.BUSY);
            assertFalse(chat.isDone());
            assertFalse(Files.exists(wt.resolve("waited.txt")), "the agent does not start while the lock is held");
        } finally {
            held.close();
        }
        TurnResult r = chat.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
        assertEquals("chat: write waited.txt after the lock", show(repo, "deia/BOT-001/T-L", "%s"));
        assertTrue(GitLock.tryWorktree(hive, "BOT-001").map(l -> {
            l.close();
            return true;
        }).orElse(false), "free again after the turn");
    }

    @Test
    void aFailedCommitLosesNothingAndTheNextTurnCommitsIt() throws Exception {
        setUp(1);
        BotRuntime bot = startBot("BOT-001");
        Path wt = worktree("BOT-001");

        // The agent holds git's index lock as another git would: deia's commit after the task fails.
        TaskResponse t1 = runTask("BOT-001", "T-1", "lock kept.txt precious work");
        assertEquals(TaskStatus.FAILED, t1.status());
        assertTrue(t1.error().contains("deia could not commit the turn's changes on deia/BOT-001/T-1"), t1.error());
        assertTrue(t1.error().contains("index.lock"), t1.error());
        assertTrue(t1.error().contains("they stay in the worktree"), t1.error());
        assertEquals("did: lock kept.txt", t1.output());
        assertNull(t1.change().commit(), "nothing was committed");
        assertEquals("precious work\n", Files.readString(wt.resolve("kept.txt")), "the work is still there");

        // The next turn (a chat) finds the lock gone stale, and its commit takes the task's work too.
        TurnResult chat = bot.sendMessage("write more.txt more", "m1", null);
        assertEquals(TurnStatus.COMPLETED, chat.status(), chat.error());
        assertNull(chat.error());
        assertEquals(List.of("kept.txt", "more.txt"), filesOf(repo, "deia/BOT-001/T-1"));
        assertEquals("", git(wt, "status", "--porcelain"));

        // A chat turn whose commit fails keeps its reply and says why in its error.
        TurnResult locked = bot.sendMessage("lock chat.txt from chat", "m2", null);
        assertEquals(TurnStatus.COMPLETED, locked.status());
        assertEquals("did: lock chat.txt", locked.text());
        assertTrue(locked.error() != null && locked.error().contains("deia could not commit"), String.valueOf(locked.error()));
        TurnResult after = bot.sendMessage("nothing", "m3", null);
        assertNull(after.error());
        assertEquals("chat: nothing", show(repo, "deia/BOT-001/T-1", "%s"));
        assertEquals(List.of("chat.txt"), filesOf(repo, "deia/BOT-001/T-1"));
    }

    @Test
    void aTaskCutShortByAStopIsCommittedAndItsRetryReturnsToItsBranch() throws Exception {
        setUp(3);
        String base = tip(repo, "main");
        BotRuntime first = startBot("BOT-001");
        Path wt = worktree("BOT-001");
        tasks.submit("BOT-001", "---\ntask_id: T-S\n---\nwait s.txt before the stop\n");
        await().atMost(WAIT).until(() -> Files.exists(wt.resolve("s.txt")));

        first.stop(Duration.ZERO);
        // The interrupted turn's work is committed on the task's branch; the task stays claimed.
        assertEquals("wait s.txt before the stop (T-S)", show(repo, "deia/BOT-001/T-S", "%s"));
        assertEquals("", git(wt, "status", "--porcelain"));
        assertTrue(tasks.response("BOT-001", "T-S").isEmpty(), "no response: the task is retried by the next start");

        Files.writeString(gate, "go");
        startBot("BOT-001");
        await().atMost(WAIT).until(() -> tasks.response("BOT-001", "T-S").isPresent());
        TaskResponse r = tasks.response("BOT-001", "T-S").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status(), r.error());
        assertEquals(2, r.attempt());
        assertEquals(List.of("wait s.txt before the stop (T-S)", "wait s.txt before the stop (T-S)", "first"),
                git(repo, "log", "--format=%s", "deia/BOT-001/T-S").lines().toList(), "the retry went on on the same branch");
        assertEquals("before the stop\nbefore the stop\n", git(repo, "show", "deia/BOT-001/T-S:s.txt"));
        assertEquals(new TaskChange("shop", "deia/BOT-001/T-S", base, tip(repo, "deia/BOT-001/T-S"), 1, 2, 0), r.change(),
                "a restarted bot finds the task's base commit again");
    }

    @Test
    void aTaskBranchStartsAtTheBaseTipItSawEvenWhenBaseMovesDuringTheTask() throws Exception {
        setUp(1);
        String oldTip = tip(repo, "main");
        startBot("BOT-001");
        tasks.submit("BOT-001", "---\ntask_id: T-MOVE\n---\nwait moving.txt during the move\n");
        await().atMost(WAIT).until(() -> Files.exists(worktree("BOT-001").resolve("moving.txt")));

        // The user commits on main while the agent works.
        String newTip = GitRepos.commitFile(repo, "user.txt", "the user's own work\n");
        Files.writeString(gate, "go");
        await().atMost(WAIT).until(() -> tasks.response("BOT-001", "T-MOVE").isPresent());
        TaskResponse r = tasks.response("BOT-001", "T-MOVE").orElseThrow();

        assertEquals(TaskStatus.COMPLETED, r.status(), r.error());
        String taskTip = tip(repo, "deia/BOT-001/T-MOVE");
        assertEquals(oldTip, show(repo, taskTip, "%P"), "the branch starts at the tip main had when the task started");
        assertEquals(oldTip, r.change().baseCommit());
        assertEquals(taskTip, r.change().commit());
        assertEquals(List.of("moving.txt"), filesOf(repo, taskTip));
        assertEquals(1, r.change().filesChanged(), "the user's commit on main is not counted as the task's");
        assertEquals(newTip, tip(repo, "main"), "main keeps the user's commit");
        assertUserCheckoutUntouched(newTip);
    }

    @Test
    void twoBotsOnOneRepositoryInParallelEachCommitHoldsOnlyItsOwnBotsFile() throws Exception {
        setUp(1);
        String base = tip(repo, "main");
        List<String> bots = List.of("BOT-A", "BOT-B");
        bots.forEach(this::startBot);
        int perBot = 20;
        for (int n = 1; n <= perBot; n++) {
            for (String b : bots) {
                tasks.submit(b, "---\ntask_id: T-" + n + "\n---\nwrite " + b + "-" + n + ".txt from " + b + "\n");
            }
        }
        for (String b : bots) {
            for (int n = 1; n <= perBot; n++) {
                String id = "T-" + n;
                await().atMost(WAIT).until(() -> tasks.response(b, id).isPresent());
                TaskResponse r = tasks.response(b, id).orElseThrow();
                assertEquals(TaskStatus.COMPLETED, r.status(), b + " " + id + ": " + r.error());
            }
        }
        for (String b : bots) {
            List<String> taskBranches = branches(repo, "deia/" + b + "/").stream()
                    .filter(x -> !x.endsWith("/chat")).toList();
            assertEquals(perBot, taskBranches.size(), taskBranches.toString());
            for (int n = 1; n <= perBot; n++) {
                String branch = "deia/" + b + "/T-" + n;
                assertEquals(List.of(b + "-" + n + ".txt"), filesOf(repo, branch), branch);
                assertEquals(base, show(repo, branch, "%P"), branch);
                assertEquals("deia " + b, show(repo, branch, "%an"), branch);
            }
        }
        assertEquals("", git(repo, "fsck", "--no-progress", "--no-dangling").strip());
        assertUserCheckoutUntouched(base);
    }

    @Test
    void aChatTurnWhoseWorktreeCannotBePreparedIsRefusedAndATaskFails() throws Exception {
        setUp(1);
        BotRuntime bot = startBot("BOT-001");
        // The project's repository disappears (moved away by the user): git cannot make a worktree.
        Path wt = worktree("BOT-001");
        Files.move(repo, dir.resolve("moved-away"));
        deleteTree(wt);
        DeiaException chat = assertThrows(DeiaException.class, () -> bot.sendMessage("write x.txt x", "m1", null));
        assertTrue(chat.getMessage().contains("git"), chat.getMessage());
        TaskResponse t = runTask("BOT-001", "T-1", "write y.txt y");
        assertEquals(TaskStatus.FAILED, t.status());
        assertTrue(t.error().startsWith("cannot prepare the worktree: "), t.error());
        assertFalse(Files.exists(wt.resolve("y.txt")), "the agent did not run outside its worktree");
    }
}
