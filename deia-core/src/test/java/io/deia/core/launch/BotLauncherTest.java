package io.deia.core.launch;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real runner processes (the test runner main), a real file registry, real HTTP. */
class BotLauncherTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    private final String marker = "deia-launcher-test-" + UUID.randomUUID();
    private final List<BotLauncher> launchers = new ArrayList<>();
    private HiveLayout hive;
    private DeiaConfig config;
    private JsonFileServiceRegistry registry;

    @BeforeEach
    void setUp() {
        hive = new HiveLayout(dir.resolve(".deia"));
        Map<String, Profile> profiles = new LinkedHashMap<>();
        profiles.put("echo", profile(10, new RestartPolicy(RestartPolicy.Mode.ON_FAILURE, 2, 60, 50, 200, 30)));
        profiles.put("never", profile(10, new RestartPolicy(RestartPolicy.Mode.NEVER, 2, 60, 50, 200, 30)));
        profiles.put("always", profile(10, new RestartPolicy(RestartPolicy.Mode.ALWAYS, 2, 60, 50, 200, 30)));
        profiles.put("quick", profile(1, RestartPolicy.DEFAULT));
        profiles.put("missing", Profile.builder(AgentType.COMMAND).executable("/no/such/agent-binary").build());
        // A port range of its own: other suites on this machine use the default 8101-8299 at the same time.
        config = DeiaConfig.builder().ports(new DeiaConfig.PortRange(19400, 19599)).profiles(profiles).build();
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

    private static Profile profile(int startTimeoutS, RestartPolicy restart) {
        return Profile.builder(AgentType.COMMAND).executable("/bin/cat").startTimeoutS(startTimeoutS).restart(restart)
                .build();
    }

    /** The test runner main with this JVM's class path, tagged with the marker so /proc scans find it. */
    private RunnerCommand testRunner() {
        RunnerCommand jvm = RunnerCommand.currentJvm(TestRunnerMain.class.getName());
        return (id, port, p, h, c) -> {
            List<String> argv = new ArrayList<>(jvm.argv(id, port, p, h, c));
            argv.add(1, "-Ddeia.test.marker=" + marker);
            return argv;
        };
    }

    private BotLauncher launcher(RunnerCommand command) {
        BotLauncher l = BotLauncher.builder(hive, config, registry, command)
                .stopGrace(Duration.ofSeconds(5)).killGrace(Duration.ofSeconds(2)).build();
        launchers.add(l);
        return l;
    }

    private static HttpResponse<String> get(BotRecord r, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(r.url() + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private void post(BotRecord r, String path) {
        try {
            HTTP.send(HttpRequest.newBuilder(URI.create(r.url() + path))
                            .header("Authorization", io.deia.core.HiveToken.loadOrCreate(hive).bearer())
                            .POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            // the runner may exit before it answers
        }
    }

    @Test
    void aLinkPlantedAtTheBotLogIsRefusedAndTheFileItLeadsToIsNotAppendedTo() throws Exception {
        Path victim = dir.resolve("root-only.conf");
        Files.writeString(victim, "precious\n");
        Files.setPosixFilePermissions(victim, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.createDirectories(hive.botLogsDir());
        Files.createSymbolicLink(hive.botLogFile("BOT-001"), victim);

        DeiaException e = assertThrows(DeiaException.class, () -> launcher(testRunner()).launch("BOT-001", "echo"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(hive.botLogFile("BOT-001") + " is a symbolic link"), e.getMessage());
        assertEquals("precious\n", Files.readString(victim), "the runner's output went nowhere outside the hive");
        assertTrue(Files.isSymbolicLink(hive.botLogFile("BOT-001")), "the link is reported, not replaced");
        assertTrue(registry.get("BOT-001").isEmpty(), "the reservation is rolled back");
        assertEquals(List.of(), ProcessChecks.runningWithMarker(marker), "no runner was started");
    }

    @Test
    void launchesTwoBotsAtOnceAndStopsThemWithNothingLeft() throws Exception {
        BotLauncher launcher = launcher(testRunner());
        Map<String, String> bots = new LinkedHashMap<>();
        bots.put("BOT-001", "echo");
        bots.put("BOT-002", "echo");
        List<BotRecord> launched = launcher.launchAll(bots);

        assertEquals(2, launched.size());
        assertNotEquals(launched.get(0).port(), launched.get(1).port());
        for (BotRecord r : launched) {
            assertTrue(ProcessChecks.isRunning(r.pid()), "runner pid is real");
            assertEquals(ProcessTrees.startInstant(r.pid()).orElseThrow(), r.processStart());
            HttpResponse<String> health = get(r, "/health");
            assertEquals(200, health.statusCode());
            assertTrue(health.body().contains(r.botId()));
            assertEquals(200, get(r, "/status").statusCode());
            assertTrue(Files.isRegularFile(hive.botLogFile(r.botId())));
            assertTrue(Files.readString(hive.botLogFile(r.botId())).contains("test runner " + r.botId()));
        }
        assertEquals(java.util.Set.of("BOT-001", "BOT-002"), launcher.supervised());
        DeiaException again = assertThrows(DeiaException.class, () -> launcher.launch("BOT-001", "echo"));
        assertEquals(ErrorCode.CONFLICT, again.code());

        launcher.stopAll();
        for (BotRecord r : launched) {
            BotRecord stopped = registry.get(r.botId()).orElseThrow();
            assertEquals(BotState.STOPPED, stopped.state());
            assertEquals(0, stopped.pid());
            assertFalse(ProcessChecks.isRunning(r.pid()));
            // 0, not 143: the runner obeyed POST /stop, which it does only with the hive's token.
            assertEquals(0, stopped.lastExitCode(), "stopped gracefully");
        }
        assertTrue(ProcessChecks.runningWithMarker(marker).isEmpty());
        assertTrue(launcher.supervised().isEmpty());
    }

    @Test
    void aPortTakenAfterTheRegistryCheckedItIsRetriedOnAnotherPort() throws Exception {
        // Another program grabs the first reserved port between the registry's bind check and the
        // runner's own bind: the runner exits with EXIT_PORT_IN_USE and the launcher moves on.
        List<java.net.ServerSocket> grabbed = new ArrayList<>();
        RunnerCommand runner = testRunner();
        BotLauncher launcher = launcher((id, port, p, h, c) -> {
            if (grabbed.isEmpty()) {
                try {
                    grabbed.add(new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress()));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            return runner.argv(id, port, p, h, c);
        });
        try {
            BotRecord r = launcher.launch("BOT-PORT", "echo");
            int taken = grabbed.get(0).getLocalPort();
            assertNotEquals(taken, r.port());
            assertEquals(200, get(r, "/health").statusCode());
            assertEquals(r.port(), registry.get("BOT-PORT").orElseThrow().port());
            assertTrue(Files.readString(hive.botLogFile("BOT-PORT")).contains("port " + taken + " is taken"));
            launcher.stop("BOT-PORT");
        } finally {
            for (java.net.ServerSocket s : grabbed) {
                s.close();
            }
        }
    }

    @Test
    void refusesBadIdsUnknownProfilesMissingExecutablesAndUnknownBots() {
        BotLauncher launcher = launcher(testRunner());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(DeiaException.class, () -> launcher.launch("../etc", "echo")).code());
        DeiaException unknown = assertThrows(DeiaException.class, () -> launcher.launch("BOT-1", "nope"));
        assertEquals(ErrorCode.UNPROCESSABLE, unknown.code());
        DeiaException missing = assertThrows(DeiaException.class, () -> launcher.launch("BOT-1", "missing"));
        assertEquals(ErrorCode.UNPROCESSABLE, missing.code());
        assertTrue(missing.getMessage().contains("/no/such/agent-binary"), missing.getMessage());
        assertTrue(missing.getMessage().contains("missing"), missing.getMessage());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> launcher.stop("BOT-404")).code());
        assertTrue(registry.list().isEmpty());
    }

    @Test
    void runnerThatExitsAtOnceFailsTheLaunchWithItsLogAndLeavesNothing() {
        BotLauncher launcher = launcher((id, port, p, h, c) ->
                List.of("/bin/sh", "-c", "echo 'runner " + marker + " cannot start: bad flag' >&2; exit 3"));
        DeiaException e = assertThrows(DeiaException.class, () -> launcher.launch("BOT-1", "echo"));
        assertEquals(ErrorCode.UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("exited with code 3"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot start: bad flag"), e.getMessage());
        assertTrue(registry.get("BOT-1").isEmpty());
        assertTrue(ProcessChecks.runningWithMarker(marker).isEmpty());
        assertTrue(launcher.supervised().isEmpty());
    }

    @Test
    void runnerThatNeverOpensItsPortIsKilledWithItsChildrenAndRolledBack() {
        String tag = "600." + Math.abs(UUID.randomUUID().getMostSignificantBits() % 1_000_000);
        BotLauncher launcher = launcher((id, port, p, h, c) -> List.of("/bin/sh", "-c",
                "echo deaf runner " + marker + "; sleep " + tag + " & sleep " + tag + "; wait"));
        DeiaException e = assertThrows(DeiaException.class, () -> launcher.launch("BOT-1", "quick"));
        assertEquals(ErrorCode.UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("did not answer /health"), e.getMessage());
        assertTrue(e.getMessage().contains("deaf runner"), e.getMessage());
        assertTrue(registry.get("BOT-1").isEmpty());
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessChecks.runningWithMarker(tag).isEmpty());
    }

    @Test
    void crashedBotIsRestartedThenFailsWhenItKeepsCrashing() {
        BotLauncher launcher = launcher(testRunner());
        BotRecord first = launcher.launch("BOT-1", "echo");
        ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();

        BotRecord second = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-1").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != first.pid() && r.state() == BotState.IDLE);
        assertEquals(1, second.restarts());
        assertEquals(137, second.lastExitCode());
        assertTrue(ProcessChecks.isRunning(second.pid()));

        ProcessHandle.of(second.pid()).orElseThrow().destroyForcibly();
        BotRecord third = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-1").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != second.pid() && r.state() == BotState.IDLE);
        assertEquals(2, third.restarts());

        // Budget: two restarts per minute; the third crash ends in FAILED, not another launch.
        ProcessHandle.of(third.pid()).orElseThrow().destroyForcibly();
        BotRecord failed = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-1").orElseThrow(),
                r -> r.state() == BotState.FAILED);
        assertEquals("exited 3 times in 60 s; last exit code 137", failed.lastError());
        assertEquals(0, failed.pid());
        assertTrue(launcher.supervised().isEmpty());
        assertTrue(ProcessChecks.runningWithMarker(marker).isEmpty());

        // A failed bot can be launched again by hand.
        BotRecord relaunched = launcher.launch("BOT-1", "echo");
        assertTrue(ProcessChecks.isRunning(relaunched.pid()));
        assertEquals(BotState.STOPPED, launcher.stop("BOT-1").state());
    }

    @Test
    void aRestartWhoseRunnerDiesDuringItsStartKeepsThatExitCode() {
        RunnerCommand normal = testRunner();
        java.util.concurrent.atomic.AtomicInteger starts = new java.util.concurrent.atomic.AtomicInteger();
        // The second start (the first restart) exits with 7 before it answers /health.
        RunnerCommand secondDies = (id, port, p, h, c) -> starts.incrementAndGet() == 2
                ? List.of("/bin/sh", "-c", "echo dying on purpose; exit 7") : normal.argv(id, port, p, h, c);
        BotLauncher launcher = launcher(secondDies);
        BotRecord first = launcher.launch("BOT-1", "echo");
        ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();

        BotRecord third = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-1").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != first.pid() && r.state() == BotState.IDLE);
        assertEquals(3, starts.get());
        assertEquals(2, third.restarts());
        assertEquals(7, third.lastExitCode(), "the exit code of the runner that died during its start, not unknown");
        assertTrue(third.lastError().contains("exited with code 7 before answering /health"), third.lastError());
    }

    @Test
    void policyDecidesWhatFollowsAnExit() {
        BotLauncher launcher = launcher(testRunner());
        BotRecord never = launcher.launch("BOT-N", "never");
        post(never, "/exit?code=4");
        BotRecord failed = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-N").orElseThrow(),
                r -> r.state() == BotState.FAILED);
        assertEquals(4, failed.lastExitCode());
        assertTrue(failed.lastError().contains("restart policy never"), failed.lastError());

        BotRecord clean = launcher.launch("BOT-C", "echo");
        post(clean, "/exit?code=0");
        BotRecord stopped = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-C").orElseThrow(),
                r -> r.state() == BotState.STOPPED);
        assertEquals(0, stopped.lastExitCode());

        BotRecord always = launcher.launch("BOT-A", "always");
        post(always, "/exit?code=0");
        BotRecord back = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-A").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != always.pid() && r.state() == BotState.IDLE);
        assertEquals(1, back.restarts());

        // A runner told to stop by someone else deregisters itself: stopped, not restarted.
        post(back, "/stop");
        BotRecord selfStopped = await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-A"),
                r -> r.isPresent() && r.get().state() == BotState.STOPPED).orElseThrow();
        assertEquals(0, selfStopped.pid());
        await().atMost(Duration.ofSeconds(10)).until(() -> launcher.supervised().isEmpty());
    }

    @Test
    void stopEndsTheRunnersChildrenAndGrandchildren() throws Exception {
        BotLauncher launcher = launcher(testRunner());
        for (int cycle = 0; cycle < 3; cycle++) {
            String tag = "700." + cycle + Math.abs(UUID.randomUUID().getMostSignificantBits() % 1_000_000);
            BotRecord r = launcher.launch("BOT-G", "echo");
            assertEquals(200, get(r, "/spawn?tag=" + tag).statusCode());
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessChecks.runningWithMarker(tag).size() == 3);
            List<Long> tree = ProcessTrees.tree(ProcessHandle.of(r.pid()).orElseThrow()).stream()
                    .map(ProcessHandle::pid).toList();
            assertTrue(tree.size() >= 4, "runner, sh and two sleeps: " + tree);
            assertTrue(tree.containsAll(ProcessChecks.runningWithMarker(tag)));

            assertEquals(BotState.STOPPED, launcher.stop("BOT-G").state());
            assertTrue(ProcessChecks.runningWithMarker(tag).isEmpty());
            assertTrue(tree.stream().noneMatch(ProcessChecks::isRunning), "nothing of " + tree + " runs");
        }
    }

    @Test
    void newLauncherAdoptsLiveBotsAndRestartsWantedDeadOnes() {
        BotLauncher first = launcher(testRunner());
        BotRecord live = first.launch("BOT-L", "echo");
        BotRecord doomed = first.launch("BOT-D", "echo");
        first.close();
        assertTrue(ProcessChecks.isRunning(live.pid()), "close() leaves bots running");
        ProcessHandle.of(doomed.pid()).orElseThrow().destroyForcibly();
        await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessChecks.isRunning(doomed.pid()));

        BotLauncher second = launcher(testRunner());
        List<BotRecord> adopted = second.adopt();
        assertEquals(List.of("BOT-L"), adopted.stream().map(BotRecord::botId).toList());
        assertEquals(live.pid(), adopted.get(0).pid());
        // Wanted running: restarted under its policy, the death counted and the reason recorded.
        BotRecord back = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-D").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != doomed.pid() && r.state() == BotState.IDLE);
        assertEquals(1, back.restarts(), back.toString());
        assertTrue(back.wanted(), back.toString());
        assertTrue(back.lastError().contains("runner pid " + doomed.pid() + " died while no controller supervised it"),
                back.toString());
        second.stop("BOT-D");
        assertFalse(registry.get("BOT-D").orElseThrow().wanted(), "stopped on purpose: no longer wanted");
        assertEquals(ErrorCode.CONFLICT,
                assertThrows(DeiaException.class, () -> second.launch("BOT-L", "echo")).code());

        // Adopted bots are supervised: a crash is noticed (by polling) and restarted.
        ProcessHandle.of(live.pid()).orElseThrow().destroyForcibly();
        BotRecord restarted = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-L").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != live.pid() && r.state() == BotState.IDLE);
        assertTrue(ProcessChecks.isRunning(restarted.pid()));
        second.stop("BOT-L");
        assertFalse(ProcessChecks.isRunning(restarted.pid()));
        assertTrue(ProcessChecks.runningWithMarker(marker).isEmpty());
    }

    @Test
    void aLiveRunnerThatDoesNotAnswerHealthIsAdoptedAndRestartedWhenItDies() throws Exception {
        // A process registered as BOT-Q's runner (pid and start instant match) whose port is deaf:
        // e.g. a runner the previous launcher restarted just before it died, still starting.
        Process deaf = new ProcessBuilder("sleep", "300").start();
        try {
            registry.register(BotRecord.builder("BOT-Q").pid(deaf.pid())
                    .processStart(deaf.toHandle().info().startInstant().orElseThrow())
                    .port(freePort()).state(BotState.STARTING).profile("echo").agent("command").build());
            BotLauncher next = launcher(testRunner());
            List<BotRecord> adopted = next.adopt();
            assertEquals(List.of("BOT-Q"), adopted.stream().map(BotRecord::botId).toList());
            assertTrue(next.supervised().contains("BOT-Q"));

            deaf.destroyForcibly();
            BotRecord restarted = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-Q").orElseThrow(),
                    r -> r.pid() > 0 && r.pid() != deaf.pid() && r.state() == BotState.IDLE);
            assertTrue(ProcessChecks.isRunning(restarted.pid()));
            next.stop("BOT-Q");
            assertFalse(ProcessChecks.isRunning(restarted.pid()));
        } finally {
            deaf.destroyForcibly();
        }
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void aSecondRunnerOfARunningBotCannotTakeItsLockAndExits() throws Exception {
        BotLauncher launcher = launcher(testRunner());
        BotRecord running = launcher.launch("BOT-LOCK", "echo");
        List<String> argv = testRunner().argv("BOT-LOCK", freePort(), config.requireProfile("echo"), hive.root(), null);
        Process second = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(second.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the second runner gives up");
        assertEquals(BotLauncher.EXIT_RUNNER_LOCKED, second.exitValue());
        assertTrue(ProcessChecks.isRunning(running.pid()), "the first runner is untouched");
        assertEquals(running.pid(), registry.get("BOT-LOCK").orElseThrow().pid());
        launcher.stop("BOT-LOCK");
    }

    @Test
    void reconcileAdoptsARunnerWhoseLauncherDiedMidLaunchAndLeavesALiveLaunchersOne() throws Exception {
        BotLauncher controller = launcher(testRunner());
        assertEquals(List.of(), controller.adopt());
        // After that adoption, a runner of a launcher killed mid-launch registers itself (pid and start
        // instant of a real process; its port is deaf, like a runner still starting).
        ProcessChecks.Ended deadLauncher = ProcessChecks.endedProcess();
        Process orphan = new ProcessBuilder("sleep", "300").start();
        Process otherLauncher = new ProcessBuilder("sleep", "300").start();
        Process othersRunner = new ProcessBuilder("sleep", "300").start();
        try {
            registry.register(runnerEntry("BOT-O", orphan).launcherPid(deadLauncher.pid())
                    .launcherStart(deadLauncher.start()).build());
            registry.register(runnerEntry("BOT-P", othersRunner).launcherPid(otherLauncher.pid())
                    .launcherStart(otherLauncher.toHandle().info().startInstant().orElseThrow()).build());

            BotLauncher.Reconciled done = controller.reconcile();
            assertEquals(List.of("BOT-O"), done.adopted().stream().map(BotRecord::botId).toList());
            assertEquals(List.of(), done.markedFailed());
            assertEquals(java.util.Set.of("BOT-O"), controller.supervised(), "a live launcher's bot is left to it");
            assertEquals(ProcessHandle.current().pid(), registry.get("BOT-O").orElseThrow().launcherPid());
            assertEquals(otherLauncher.pid(), registry.get("BOT-P").orElseThrow().launcherPid());
            assertEquals(new BotLauncher.Reconciled(List.of(), List.of(), List.of()), controller.reconcile(), "nothing twice");

            // Supervised from now on: its death is a restart per policy, with a real runner.
            orphan.destroyForcibly();
            BotRecord restarted = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-O").orElseThrow(),
                    r -> r.pid() > 0 && r.pid() != orphan.pid() && r.state() == BotState.IDLE);
            controller.stop("BOT-O");
            assertFalse(ProcessChecks.isRunning(restarted.pid()));
        } finally {
            orphan.destroyForcibly();
            otherLauncher.destroyForcibly();
            othersRunner.destroyForcibly();
        }
    }

    @Test
    void reconcileMarksWhatADeadLauncherLeftUnfinishedAsFailedSoItCanBeLaunchedAgain() throws Exception {
        BotLauncher controller = launcher(testRunner());
        controller.adopt();
        ProcessChecks.Ended deadLauncher = ProcessChecks.endedProcess();
        ProcessChecks.Ended deadRunner = ProcessChecks.endedProcess();
        registry.register(BotRecord.builder("BOT-R").port(freePort()).state(BotState.STARTING).profile("echo")
                .agent("command").launcherPid(deadLauncher.pid()).launcherStart(deadLauncher.start()).build());
        registry.register(BotRecord.builder("BOT-S").port(freePort()).state(BotState.RESTARTING).profile("echo")
                .agent("command").launcherPid(deadLauncher.pid()).launcherStart(deadLauncher.start()).build());
        registry.register(BotRecord.builder("BOT-T").pid(deadRunner.pid()).processStart(deadRunner.start())
                .port(freePort()).state(BotState.IDLE).profile("echo").agent("command").build());
        // A reservation of a launcher that runs (this process, another launcher object) is not touched.
        registry.register(BotRecord.builder("BOT-V").port(freePort()).state(BotState.STARTING).profile("echo")
                .agent("command").launcherIsThisProcess().build());

        BotLauncher.Reconciled done = controller.reconcile();
        assertEquals(List.of(), done.adopted());
        Map<String, String> reasons = new LinkedHashMap<>();
        done.markedFailed().forEach(r -> reasons.put(r.botId(), r.lastError()));
        assertEquals(List.of("BOT-R", "BOT-S", "BOT-T"), List.copyOf(new java.util.TreeSet<>(reasons.keySet())));
        assertTrue(reasons.get("BOT-R").contains("exited before the runner started"), reasons.toString());
        assertTrue(reasons.get("BOT-S").contains("exited while it waited to restart"), reasons.toString());
        assertTrue(reasons.get("BOT-T").contains("runner pid " + deadRunner.pid() + " died while no controller supervised it"),
                reasons.toString());
        for (String id : List.of("BOT-R", "BOT-S", "BOT-T")) {
            BotRecord r = registry.get(id).orElseThrow();
            assertEquals(BotState.FAILED, r.state(), r.toString());
            assertEquals(0, r.pid());
        }
        assertEquals(BotState.STARTING, registry.get("BOT-V").orElseThrow().state());
        assertTrue(controller.supervised().isEmpty());

        // Failed, not stuck: a launch goes ahead at once.
        BotRecord relaunched = controller.launch("BOT-R", "echo");
        assertEquals(BotState.IDLE, relaunched.state());
        controller.stop("BOT-R");
    }

    @Test
    void aSupervisingLauncherReconcilesOnItsOwnAndAClosedOneRefuses() throws Exception {
        BotLauncher controller = BotLauncher.builder(hive, config, registry, testRunner())
                .reconcileEvery(Duration.ofMillis(100)).build();
        launchers.add(controller);
        Process orphan = new ProcessBuilder("sleep", "300").start();
        try {
            registry.register(runnerEntry("BOT-W", orphan).build());
            await().atMost(Duration.ofSeconds(10)).until(() -> controller.supervised().contains("BOT-W"));
            assertEquals(ProcessHandle.current().pid(), registry.get("BOT-W").orElseThrow().launcherPid());
        } finally {
            orphan.destroyForcibly();
        }
        controller.close();
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, controller::reconcile).code());
        assertThrows(IllegalArgumentException.class,
                () -> BotLauncher.builder(hive, config, registry, testRunner()).reconcileEvery(Duration.ofMillis(-1)));
    }

    private static BotRecord.Builder runnerEntry(String botId, Process runner) throws java.io.IOException {
        return BotRecord.builder(botId).pid(runner.pid())
                .processStart(runner.toHandle().info().startInstant().orElseThrow())
                .port(freePort()).state(BotState.IDLE).profile("echo").agent("command");
    }

    @Test
    void unsupervisedLauncherLeavesExitsAlone() {
        BotLauncher cli = BotLauncher.builder(hive, config, registry, testRunner()).supervise(false).build();
        launchers.add(cli);
        BotRecord r = cli.launch("BOT-U", "echo");
        assertTrue(cli.supervised().isEmpty());
        cli.close();
        assertTrue(ProcessChecks.isRunning(r.pid()));
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, () -> cli.launch("BOT-V", "echo")).code());

        BotLauncher other = launcher(testRunner());
        BotRecord stopped = other.stop("BOT-U");
        assertEquals(BotState.STOPPED, stopped.state());
        assertFalse(ProcessChecks.isRunning(r.pid()));
        // Stopping a stopped bot is harmless.
        assertEquals(BotState.STOPPED, other.stop("BOT-U").state());
    }
}
