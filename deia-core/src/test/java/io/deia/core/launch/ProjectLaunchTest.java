package io.deia.core.launch;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.project.Project;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.GitRepos;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Launching a bot on a configured project: real git repositories in a temporary folder, real runner
 * processes (the test runner main, which prints the project it was given), a real file registry.
 */
class ProjectLaunchTest {
    @TempDir
    Path dir;

    private final String marker = "deia-project-launch-test-" + UUID.randomUUID();
    private final List<BotLauncher> launchers = new ArrayList<>();
    private HiveLayout hive;
    private DeiaConfig config;
    private JsonFileServiceRegistry registry;
    private Path shop;

    @BeforeEach
    void setUp() throws IOException {
        hive = new HiveLayout(dir.resolve(".deia"));
        shop = GitRepos.init(dir.resolve("shop"));
        Path plain = Files.createDirectories(dir.resolve("not-a-repo"));
        Map<String, Profile> profiles = new LinkedHashMap<>();
        profiles.put("echo", Profile.builder(AgentType.COMMAND).executable("/bin/cat").startTimeoutS(10)
                .restart(new RestartPolicy(RestartPolicy.Mode.ON_FAILURE, 2, 60, 50, 200, 30)).build());
        Map<String, Project> projects = new LinkedHashMap<>();
        projects.put("shop", new Project("shop", shop, "main", List.of(), null));
        projects.put("plain", new Project("plain", plain, "main", List.of(), null));
        projects.put("nobase", new Project("nobase", shop, "release", List.of(), null));
        projects.put("gone", new Project("gone", dir.resolve("no-such-folder"), "main", List.of(), null));
        // A port range of its own: other suites on this machine use other ranges at the same time.
        config = DeiaConfig.builder().ports(new DeiaConfig.PortRange(25100, 25199)).profiles(profiles)
                .projects(projects).build();
        registry = new JsonFileServiceRegistry(hive, config);
    }

    @AfterEach
    void tearDown() {
        for (BotLauncher l : launchers) {
            l.close();
        }
        for (BotRecord r : registry.list()) {
            if (r.pid() > 0) {
                ProcessHandle.of(r.pid()).ifPresent(ProcessTrees::kill);
            }
        }
        for (long pid : ProcessChecks.runningWithMarker(marker)) {
            ProcessHandle.of(pid).ifPresent(ProcessTrees::kill);
        }
    }

    private BotLauncher launcher() {
        RunnerCommand jvm = RunnerCommand.currentJvm(TestRunnerMain.class.getName());
        RunnerCommand tagged = (id, port, p, h, c) -> {
            List<String> argv = new ArrayList<>(jvm.argv(id, port, p, h, c));
            argv.add(1, "-Ddeia.test.marker=" + marker);
            return argv;
        };
        BotLauncher l = BotLauncher.builder(hive, config, registry, tagged)
                .stopGrace(Duration.ofSeconds(5)).killGrace(Duration.ofSeconds(2)).build();
        launchers.add(l);
        return l;
    }

    /** The project the runner with this pid printed at its start, from the bot's log. */
    private String projectOfRunner(String botId, long pid) throws IOException {
        String prefix = "test runner " + botId + " pid " + pid + " ";
        return Files.readAllLines(hive.botLogFile(botId)).stream().filter(l -> l.startsWith(prefix))
                .map(l -> l.substring(l.indexOf(" project ") + " project ".length()))
                .findFirst().orElseThrow(() -> new AssertionError("runner pid " + pid + " did not start"));
    }

    @Test
    void aBotLaunchedOnAProjectHasItInItsEntryAndItsRunnerGetsIt() throws IOException {
        BotLauncher launcher = launcher();
        BotRecord r = launcher.launch("BOT-P1", "echo", "shop");
        assertEquals("shop", r.project());
        assertEquals("shop", registry.get("BOT-P1").orElseThrow().project());
        assertEquals("shop", projectOfRunner("BOT-P1", r.pid()));
        String file = Files.readString(hive.registryFile());
        assertTrue(file.contains("\"project\" : \"shop\""), file);

        BotRecord plain = launcher.launch("BOT-P2", "echo");
        assertNull(plain.project());
        assertEquals("null", projectOfRunner("BOT-P2", plain.pid()), "no --project without a project");
        assertEquals(1, Files.readString(hive.registryFile()).split("\"project\"", -1).length - 1,
                "a bot without a project has no project field");

        BotRecord stopped = launcher.stop("BOT-P1");
        assertEquals(BotState.STOPPED, stopped.state());
        assertEquals("shop", stopped.project(), "a stopped entry still tells what the bot worked on");
    }

    @Test
    void anUnknownProjectIsUnprocessableAndNothingIsStarted() {
        DeiaException e = assertThrows(DeiaException.class, () -> launcher().launch("BOT-U", "echo", "nope"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("unknown project 'nope'"), e.getMessage());
        assertTrue(registry.get("BOT-U").isEmpty());
        assertEquals(List.of(), ProcessChecks.runningWithMarker(marker));
    }

    @Test
    void aProjectWhosePathIsNotARepositoryIsUnprocessableNamingPath() {
        DeiaException e = assertThrows(DeiaException.class, () -> launcher().launch("BOT-R", "echo", "plain"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("project plain: \"path\""), e.getMessage());
        assertTrue(e.getMessage().contains("is not a git repository"), e.getMessage());
        assertTrue(registry.get("BOT-R").isEmpty());
        DeiaException gone = assertThrows(DeiaException.class, () -> launcher().launch("BOT-R", "echo", "gone"));
        assertEquals(ErrorCode.UNPROCESSABLE, gone.code(), gone.getMessage());
        assertTrue(gone.getMessage().startsWith("project gone: \"path\" "), gone.getMessage());
        assertTrue(registry.get("BOT-R").isEmpty());
        assertEquals(List.of(), ProcessChecks.runningWithMarker(marker));
    }

    @Test
    void aProjectWhoseBaseBranchIsMissingIsUnprocessableNamingBase() {
        DeiaException e = assertThrows(DeiaException.class, () -> launcher().launch("BOT-B", "echo", "nobase"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("project nobase: \"base\" branch 'release' does not exist"), e.getMessage());
        assertTrue(registry.get("BOT-B").isEmpty());
    }

    @Test
    void aBadIdOrProfileIsRefusedBeforeTheProjectIsLookedAt() {
        BotLauncher launcher = launcher();
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(DeiaException.class, () -> launcher.launch("../x", "echo", "shop")).code());
        DeiaException profile = assertThrows(DeiaException.class, () -> launcher.launch("BOT-1", "nope", "plain"));
        assertTrue(profile.getMessage().contains("nope"), profile.getMessage());
        assertTrue(registry.list().isEmpty());
    }

    @Test
    void aCrashedProjectBotIsRestartedOnItsProject() throws IOException {
        BotLauncher launcher = launcher();
        BotRecord first = launcher.launch("BOT-C", "echo", "shop");
        ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();

        BotRecord second = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-C").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != first.pid() && r.state() == BotState.IDLE);
        assertEquals(1, second.restarts());
        assertEquals("shop", second.project());
        assertEquals("shop", projectOfRunner("BOT-C", second.pid()));
    }

    @Test
    void aRestartWhoseProjectLostItsBaseFailsAtOnceNamingBase() {
        BotLauncher launcher = launcher();
        BotRecord first = launcher.launch("BOT-M", "echo", "shop");
        // The user renames the base branch while the bot runs: the next start must say so.
        GitRepos.git(shop, "branch", "-m", "main", "trunk");
        ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();

        BotRecord failed = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-M").orElseThrow(),
                r -> r.state() == BotState.FAILED);
        assertEquals("not restarted: project shop: \"base\" branch 'main' does not exist in " + shop, failed.lastError());
        assertEquals("shop", failed.project());
        assertEquals(0, failed.pid());
        assertFalse(failed.wanted(), "not brought back by a reconcile until it is launched again");
        assertTrue(launcher.supervised().isEmpty());
        assertEquals(List.of(), ProcessChecks.runningWithMarker(marker), "no runner was started without its base");
    }

    @Test
    void aNewControllerAdoptsAProjectBotAndRestartsADeadOneOnItsProject() throws IOException {
        BotLauncher first = launcher();
        BotRecord alive = first.launch("BOT-A", "echo", "shop");
        BotRecord dies = first.launch("BOT-D", "echo", "shop");
        first.close();
        ProcessHandle.of(dies.pid()).orElseThrow().destroyForcibly();
        await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessChecks.isRunning(dies.pid()));

        BotLauncher second = launcher();
        List<BotRecord> adopted = second.adopt();
        assertEquals(List.of("BOT-A"), adopted.stream().map(BotRecord::botId).toList());
        assertEquals("shop", adopted.get(0).project());
        assertEquals(alive.pid(), registry.get("BOT-A").orElseThrow().pid());

        BotRecord back = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-D").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != dies.pid() && r.state() == BotState.IDLE);
        assertEquals("shop", back.project());
        assertEquals("shop", projectOfRunner("BOT-D", back.pid()));
    }
}
