package io.deia.server.launch;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real training runs of the server's runner from a real jar, real JVMs accepting or refusing the
 * archive, and real launches with and without it.
 */
class RunnerClassArchiveTest {
    @TempDir
    static Path jarDir;

    @TempDir
    Path dir;

    private static List<Path> jarClassPath;

    private final List<BotLauncher> launchers = new ArrayList<>();
    private HiveLayout hive;
    private DeiaConfig config;
    private JsonFileServiceRegistry registry;
    private Path archives;
    private Path configFile;

    /** The class folders of this JVM (deia's modules, the server) packed in a jar, plus its dependency jars. */
    @BeforeAll
    static void packRunnerJar() throws IOException {
        Path jar = jarDir.resolve("runner.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
                Path root = Path.of(entry);
                if (Files.isDirectory(root)) {
                    addTree(out, root);
                }
            }
        }
        jarClassPath = new ArrayList<>(List.of(jar));
        Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(Path::of).filter(Files::isRegularFile).forEach(jarClassPath::add);
    }

    private static void addTree(JarOutputStream out, Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(root.relativize(f).toString().replace(File.separatorChar, '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
    }

    @BeforeEach
    void setUp() throws IOException {
        hive = new HiveLayout(dir.resolve(".deia"));
        archives = dir.resolve("cds");
        configFile = dir.resolve("deia.json");
        // A JVM told -Xshare:off (profile noshare) can neither write nor use an archive.
        Files.writeString(configFile, """
                {"ports": {"from": 19600, "to": 19699}, "profiles": {
                  "echo": {"agent": "command", "executable": "/bin/cat", "start_timeout_s": 20,
                           "runner_jvm_options": ["-XX:+UseSerialGC", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]},
                  "noshare": {"agent": "command", "executable": "/bin/cat", "start_timeout_s": 20,
                              "runner_jvm_options": ["-XX:+UseSerialGC", "-Xmx64m", "-Xshare:off"]}}}
                """);
        config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
    }

    @AfterEach
    void tearDown() {
        for (BotLauncher l : launchers) {
            l.stopAll();
            l.close();
        }
    }

    private JvmRunnerCommand jarRunner() {
        return new JvmRunnerCommand(RunnerCommand.currentJvm(Main.class.getName()).javaCommand(),
                jarClassPath, Main.class.getName());
    }

    private BotLauncher launcher(RunnerCommand command) {
        BotLauncher l = BotLauncher.builder(hive, config, registry, command).configFile(configFile)
                .stopGrace(Duration.ofSeconds(5)).killGrace(Duration.ofSeconds(2)).build();
        launchers.add(l);
        return l;
    }

    private static String cmdline(long pid) throws IOException {
        return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"))).replace('\0', ' ');
    }

    private List<Path> archiveFiles() throws IOException {
        if (!Files.isDirectory(archives)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(archives)) {
            return files.toList();
        }
    }

    @Test
    void theFirstLaunchMakesTheArchiveInTheBackgroundWithoutTouchingTheHiveAndLaterLaunchesUseIt() throws Exception {
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        BotLauncher launcher = launcher(archive);

        BotRecord first = launcher.launch("BOT-A", "echo");
        assertFalse(cmdline(first.pid()).contains("SharedArchiveFile"), "no archive yet: " + cmdline(first.pid()));
        await().atMost(Duration.ofSeconds(90)).until(() -> archive.find(config.requireProfile("echo")).isPresent());
        Path made = archive.find(config.requireProfile("echo")).orElseThrow();
        assertEquals(List.of(made), archiveFiles(), "one archive, no temp file left");

        // The training ran in a throwaway hive: nothing of it in this one.
        assertEquals(List.of("BOT-A"), registry.list().stream().map(BotRecord::botId).toList());
        try (Stream<Path> files = Files.walk(hive.root())) {
            assertTrue(files.noneMatch(f -> f.toString().contains(RunnerClassArchive.TRAINING_BOT_ID)));
        }

        launcher.stop("BOT-A");
        BotRecord second = launcher.launch("BOT-B", "echo");
        assertTrue(cmdline(second.pid()).contains("-XX:SharedArchiveFile=" + made), cmdline(second.pid()));

        // Made once: asking again returns the same file without a training run.
        FileTime before = Files.getLastModifiedTime(made);
        assertEquals(Optional.of(made), archive.create(config.requireProfile("echo"), "BOT-B"));
        assertEquals(before, Files.getLastModifiedTime(made));
        assertEquals(List.of(made), archiveFiles());
    }

    @Test
    void aDamagedArchiveIsDeletedAndNotUsedAndTheBotStillStarts() throws Exception {
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        BotLauncher launcher = launcher(archive);
        Profile echo = config.requireProfile("echo");
        Path made = archive.create(echo, "BOT-C").orElseThrow();

        // Same name (so the same key, size and recorded CRC), damaged content: a JVM would crash on it.
        made.toFile().setWritable(true);
        try (OutputStream out = Files.newOutputStream(made, java.nio.file.StandardOpenOption.WRITE)) {
            out.write(new byte[4096]);
        }
        RunnerClassArchive fresh = new RunnerClassArchive(jarRunner(), archives);
        assertTrue(fresh.find(echo).isEmpty());
        assertFalse(Files.exists(made), "damaged archive deleted");

        BotLauncher second = launcher(fresh);
        BotRecord bot = second.launch("BOT-C", "echo");
        assertTrue(ProcessTrees.isRunning(ProcessHandle.of(bot.pid()).orElseThrow()));
        assertFalse(cmdline(bot.pid()).contains("SharedArchiveFile"), cmdline(bot.pid()));
        // The launch without one queued a new archive, made in the background.
        await().atMost(Duration.ofSeconds(90)).until(() -> fresh.find(echo).isPresent());
    }

    @Test
    void anArchiveOfAnotherJarIsNotUsed() throws Exception {
        Profile echo = config.requireProfile("echo");
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        Path made = archive.create(echo, "BOT-D").orElseThrow();
        assertEquals(Optional.of(made), archive.find(echo));

        // The jar is rebuilt: the old archive no longer fits, and is not offered.
        Path jar = jarClassPath.get(0);
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 2000));
        try {
            assertTrue(new RunnerClassArchive(jarRunner(), archives).find(echo).isEmpty());
            assertTrue(Files.exists(made), "kept: another installation may still use that jar");
        } finally {
            Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() - 2000));
        }
    }

    @Test
    void aJvmThatCannotShareGetsNoArchiveOnceAndTheBotStartsWithout() throws Exception {
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        BotLauncher launcher = launcher(archive);
        Profile noShare = config.requireProfile("noshare");
        assertTrue(archive.create(noShare, "BOT-E").isEmpty());
        assertEquals(List.of(), archiveFiles().stream().filter(f -> f.toString().endsWith(".jsa")).toList(),
                "no archive and no temp file");

        BotRecord bot = launcher.launch("BOT-E", "noshare");
        assertFalse(cmdline(bot.pid()).contains("SharedArchiveFile"));
        assertTrue(archive.find(noShare).isEmpty());
    }

    @Test
    void aClassPathWithFoldersGetsNoArchive() throws Exception {
        RunnerClassArchive archive = new RunnerClassArchive(RunnerCommand.currentJvm(Main.class.getName()), archives);
        assertFalse(archive.applies(), "the build's class folders cannot be archived");
        BotRecord bot = launcher(archive).launch("BOT-F", "echo");
        assertFalse(cmdline(bot.pid()).contains("SharedArchiveFile"), cmdline(bot.pid()));
        assertTrue(archive.create(config.requireProfile("echo"), "BOT-F").isEmpty());
        assertEquals(List.of(), archiveFiles(), "no training run");
    }
}
