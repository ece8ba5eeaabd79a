package io.deia.server.launch;

import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.launch.BotLogFiles;
import io.deia.core.internal.launch.BotProbe;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.JvmRunnerCommand;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One training run of {@link RunnerClassArchive}: the real runner command with
 * {@code -XX:ArchiveClassesAtExit} against a throwaway hive in a temporary folder (its own config
 * with a {@code command} profile, a free port, bot id {@value RunnerClassArchive#TRAINING_BOT_ID}):
 * it starts, answers {@code /health}, is stopped over {@code POST /stop}, and the JVM writes the
 * archive as it exits. Then a JVM started with {@code -Xshare:on} (which refuses to start with an
 * archive it cannot use) checks it. The real hive's registry, tasks and logs are never touched.
 */
final class ClassArchiveTraining {
    private static final Logger log = LoggerFactory.getLogger(ClassArchiveTraining.class);
    private static final String TRAINING_BOT_ID = RunnerClassArchive.TRAINING_BOT_ID;
    private static final String TRAINING_PROFILE = "cds-training";
    private static final Duration POLL = Duration.ofMillis(25);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(60);

    private final JvmRunnerCommand command;

    ClassArchiveTraining(JvmRunnerCommand command) {
        this.command = command;
    }

    /**
     * Runs the runner with {@code -XX:ArchiveClassesAtExit=archive} against a throwaway hive, then
     * checks that a JVM accepts the archive it wrote.
     *
     * @throws IOException naming the step that failed, with the end of the JVM's output
     */
    void run(Profile profile, Path archive) throws IOException, InterruptedException {
        Path work = Files.createTempDirectory("deia-cds-training");
        try {
            int port = freePort();
            Path config = work.resolve("deia.json");
            AtomicFiles.writeString(config, Json.write(Map.of(
                    "ports", Map.of("from", port, "to", port),
                    "profiles", Map.of(TRAINING_PROFILE, Map.of(
                            "agent", "command",
                            // Never run: a training run gets no message. Any executable that exists will do.
                            "executable", command.javaCommand(),
                            "runner_jvm_options", profile.runnerJvmOptions())))));
            Profile training = DeiaConfig.load(config).requireProfile(TRAINING_PROFILE);
            // The training hive's own token, made before the spawn as for any runner: POST /stop needs it.
            BotProbe probe = new BotProbe(Duration.ofSeconds(2), HiveToken.loadOrCreate(new HiveLayout(work.resolve(".deia"))));
            List<String> argv = new ArrayList<>(command.argv(TRAINING_BOT_ID, port, training, work.resolve(".deia"),
                    config));
            argv.add(1, "-XX:ArchiveClassesAtExit=" + archive);
            Path logFile = work.resolve("training.log");
            Process process = start(argv, work, logFile);
            try {
                runTraining(process, probe, port, profile.startTimeout(), logFile);
            } finally {
                if (process.isAlive()) {
                    ProcessTrees.kill(process.toHandle());
                }
            }
            if (!Files.isRegularFile(archive) || Files.size(archive) == 0) {
                throw new IOException("the training run wrote no archive; end of its output: " + tail(logFile));
            }
            checkJvmAccepts(profile, archive, work);
        } finally {
            deleteTree(work);
        }
    }

    /** Waits for {@code /health}, asks the runner to stop, and waits for the exit that writes the archive. */
    private void runTraining(Process process, BotProbe probe, int port, Duration startTimeout, Path logFile)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + startTimeout.toNanos();
        while (!probe.isHealthy("127.0.0.1", port, TRAINING_BOT_ID)) {
            if (!process.isAlive()) {
                throw new IOException("the training run exited with code " + process.exitValue()
                        + " before answering /health; end of its output: " + tail(logFile));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the training run did not answer /health within " + startTimeout.toMillis()
                        + " ms; end of its output: " + tail(logFile));
            }
            process.waitFor(POLL.toMillis(), TimeUnit.MILLISECONDS);
        }
        int status = probe.requestStop("127.0.0.1", port);
        if (status < 200 || status >= 300) {
            throw new IOException("the training run did not accept POST /stop (answer " + status + ")");
        }
        if (!process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IOException("the training run did not exit within " + EXIT_TIMEOUT.toSeconds() + " s of /stop");
        }
        if (process.exitValue() != 0) {
            throw new IOException("the training run exited with code " + process.exitValue() + "; end of its output: "
                    + tail(logFile));
        }
    }

    /**
     * Starts a JVM with the archive and {@code -Xshare:on}, which exits with an error instead of
     * falling back when it cannot use the archive (wrong JVM, class path, or options).
     */
    private void checkJvmAccepts(Profile profile, Path archive, Path work) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>();
        argv.add(command.javaCommand());
        argv.addAll(profile.runnerJvmOptions());
        argv.addAll(List.of("-XX:SharedArchiveFile=" + archive, "-Xshare:on", "-cp",
                String.join(File.pathSeparator, command.classPath().stream().map(Path::toString).toList()), "-version"));
        Path logFile = work.resolve("check.log");
        Process check = start(argv, work, logFile);
        if (!check.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            check.destroyForcibly();
            throw new IOException("the archive check did not finish within " + EXIT_TIMEOUT.toSeconds() + " s");
        }
        if (check.exitValue() != 0) {
            throw new IOException("the JVM refuses the archive (-Xshare:on exited with code " + check.exitValue()
                    + "): " + tail(logFile));
        }
    }

    private static Process start(List<String> argv, Path work, Path logFile) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argv).directory(work.toFile()).redirectErrorStream(true)
                .redirectOutput(logFile.toFile());
        File nullDevice = new File("/dev/null");
        if (nullDevice.exists()) {
            pb.redirectInput(ProcessBuilder.Redirect.from(nullDevice));
        }
        return pb.start();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String tail(Path logFile) {
        String tail = BotLogFiles.tail(logFile, 10);
        return tail.isEmpty() ? "(no output)" : tail;
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("[{}] cannot delete training folder {}: {}", TRAINING_BOT_ID, root, e.getMessage());
        }
    }
}
