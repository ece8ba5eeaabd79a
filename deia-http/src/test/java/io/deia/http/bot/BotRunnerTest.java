package io.deia.http.bot;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An embedder's launch: {@link RunnerCommand#currentJvm()} starts the library's runner with this
 * module's test class path, which holds deia-core and deia-http but not the reference server.
 */
class BotRunnerTest {
    private static final String CONFIG = """
            {"ports": {"from": 19700, "to": 19799},
             "profiles": {"echo": {"agent": "command", "executable": "/bin/cat", "prompt_mode": "stdin"}}}
            """;

    @TempDir
    Path dir;

    private BotLauncher launcher;

    @AfterEach
    void tearDown() {
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
    }

    @Test
    void anEmbedderLaunchesABotWithDeiaCoreAndDeiaHttpOnly() throws Exception {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("io.deia.server.Main"),
                "the reference server is not on this class path");
        assertEquals(BotRunner.class.getName(), JvmRunnerCommand.LIBRARY_MAIN_CLASS);
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = Files.writeString(dir.resolve("deia.json"), CONFIG);
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).configFile(configFile).build();

        BotRecord bot = launcher.launch("BOT-E", "echo");
        String cmdline = Files.readString(Path.of("/proc", Long.toString(bot.pid()), "cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains(" io.deia.http.bot.BotRunner bot --id BOT-E "), cmdline);

        FileTaskQueue queue = new FileTaskQueue(hive, config);
        String taskId = queue.submit("BOT-E", "hello from an embedder\n");
        await().atMost(Duration.ofSeconds(30)).until(() -> queue.response("BOT-E", taskId).isPresent());
        TaskResponse response = queue.response("BOT-E", taskId).orElseThrow();
        assertEquals("hello from an embedder", response.output().strip());

        ProcessHandle runner = ProcessHandle.of(bot.pid()).orElseThrow();
        launcher.stop("BOT-E");
        runner.onExit().get(30, TimeUnit.SECONDS);
        assertFalse(registry.get("BOT-E").map(r -> r.pid() == bot.pid()).orElse(false), "deregistered");
    }

    private record Exit(int code, String err) {
    }

    /** Runs the library's main in a child JVM with this class path. */
    private Exit runMain(String... args) throws Exception {
        JvmRunnerCommand jvm = RunnerCommand.currentJvm();
        List<String> argv = new ArrayList<>(List.of(jvm.javaCommand(), "-cp", System.getProperty("java.class.path"),
                JvmRunnerCommand.LIBRARY_MAIN_CLASS));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Exit(p.exitValue(), err);
    }

    @Test
    void withoutAConfigFileOrACommandTheMainExitsTwoWithOneLine() throws Exception {
        Exit noConfig = runMain("bot", "--id", "BOT-1", "--port", "19701", "--hive", dir.resolve(".deia").toString());
        assertEquals(BotRunner.USAGE, noConfig.code, noConfig.err);
        assertTrue(noConfig.err.strip().startsWith("bot: no config file"), noConfig.err);
        assertEquals(1, noConfig.err.strip().lines().count(), noConfig.err);

        Exit noCommand = runMain();
        assertEquals(BotRunner.USAGE, noCommand.code, noCommand.err);
        assertTrue(noCommand.err.contains("a command is required"), noCommand.err);
    }
}
