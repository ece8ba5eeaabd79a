package io.deia.server.launch;

import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32;

/**
 * A {@link RunnerCommand} that gives runners an application class data sharing (AppCDS) archive:
 * the classes a runner loads while it starts (JDK, Jetty, Jackson, deia), stored pre-parsed so that
 * the next runner maps them instead of loading and verifying them again. It roughly halves the CPU a
 * runner needs to start. Opt-in ({@code "runner_class_data_sharing": true} in {@code deia.json}):
 * it runs a training JVM and writes to the user's cache, which an embedder may not want.
 *
 * <p><b>When</b>: a runner whose archive exists starts with it; otherwise it starts without, and the
 * archive is made in the background {@value #TRAINING_DELAY_S} s later (after the launch, not
 * during it: a training run costs a runner start's worth of CPU), for the runners after it.
 *
 * <p><b>Which archive</b>: an archive only fits the exact JVM, class path jars and JVM options it
 * was made with, so its name carries a key hashed from {@code java.home}, the JVM version, the java
 * command, the main class, every class path jar's path, size and modification time, and the
 * profile's runner JVM options. A rebuilt jar or an updated JDK gets a new key and a new archive.
 * The name also carries the archive's size and CRC-32, checked once per process before first use:
 * a truncated or damaged archive can crash the JVM even under {@code -Xshare:auto}, so one that
 * does not match is deleted (logged) and never handed to a runner.
 *
 * <p><b>How it is made</b>: a training run of the real runner against a throwaway hive
 * ({@link ClassArchiveTraining}) writes it under a temporary name; once a JVM has accepted it, it is
 * synced and renamed into place, so a reader sees a whole archive or none.
 * If any step fails the key is not tried again in this process, and runners start without one.
 *
 * <p>Archives live in a cache folder shared by all hives of the user (they depend on the jar and the
 * JVM, not on the hive); the newest {@value #KEEP_ARCHIVES} are kept.
 */
public final class RunnerClassArchive implements RunnerCommand {
    private static final Logger log = LoggerFactory.getLogger(RunnerClassArchive.class);

    /** The bot id of a training run (in its throwaway hive). */
    public static final String TRAINING_BOT_ID = "CDS-TRAINING";
    /** Archives kept in the folder; older ones (older jars or JDKs) are deleted after a creation. */
    static final int KEEP_ARCHIVES = 4;
    /** Seconds between a launch that found no archive and the training run that makes it. */
    static final int TRAINING_DELAY_S = 5;
    private static final Pattern NAME = Pattern.compile("runner-([0-9a-f]+)-([0-9]+)-([0-9a-f]{8})\\.jsa");

    private final JvmRunnerCommand command;
    private final Path dir;
    /** Archive files (name, size, mtime) whose CRC matched, so each is read once per process. */
    private final Set<String> verified = ConcurrentHashMap.newKeySet();
    /** Keys whose creation failed in this process: not tried again, so a refusing JVM costs one run. */
    private final Set<String> refused = ConcurrentHashMap.newKeySet();
    /** Keys with a creation queued or running. */
    private final Set<String> pending = ConcurrentHashMap.newKeySet();
    private final ConcurrentMap<String, Object> keyLocks = new ConcurrentHashMap<>();
    /** One training run at a time, on a daemon thread: the JVM need not wait for it to exit. */
    private final ScheduledExecutorService trainer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "deia-runner-cds");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param command the runner command the archives are for
     * @param dir     the folder holding the archives (created when needed)
     */
    public RunnerClassArchive(JvmRunnerCommand command, Path dir) {
        this.command = command;
        this.dir = dir.toAbsolutePath();
    }

    /**
     * The user's cache folder for runner archives: {@code $XDG_CACHE_HOME/deia/runner-cds}, else
     * {@code ~/.cache/deia/runner-cds}.
     */
    public static Path defaultDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return cache.resolve("deia").resolve("runner-cds");
    }

    /** The folder holding the archives. */
    public Path dir() {
        return dir;
    }

    /**
     * True when the runner's class path is made of jars only: the JVM archives classes from jars
     * only (a build's {@code target/classes} folder is not archived).
     */
    public boolean applies() {
        return !command.classPath().isEmpty() && command.classPath().stream().allMatch(Files::isRegularFile);
    }

    /**
     * The wrapped command's argv, with the archive's JVM options right after the java command when
     * there is an archive for {@code profile}; when there is none, its creation is queued.
     */
    @Override
    public List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile) {
        List<String> argv = new ArrayList<>(command.argv(botId, port, profile, hive, configFile));
        Optional<Path> archive = find(profile);
        if (archive.isPresent()) {
            argv.addAll(1, List.of("-XX:SharedArchiveFile=" + archive.get(), "-Xshare:auto"));
        } else {
            createInBackground(profile, botId);
        }
        return argv;
    }

    /**
     * The archive for runners of {@code profile}, when one exists whose size and CRC-32 match its
     * name. A damaged one is deleted.
     */
    public Optional<Path> find(Profile profile) {
        if (!applies()) {
            return Optional.empty();
        }
        String key = key(profile);
        for (Path candidate : candidates(key)) {
            if (isIntact(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /**
     * Queues the archive's creation {@value #TRAINING_DELAY_S} s from now unless it exists, is
     * queued, or failed before in this process. Returns at once.
     *
     * @param botId the bot whose launch asks for it (for the log)
     */
    void createInBackground(Profile profile, String botId) {
        if (!applies()) {
            return;
        }
        String key = key(profile);
        if (refused.contains(key) || !pending.add(key)) {
            return;
        }
        if (find(profile).isPresent()) {
            pending.remove(key);
            return;
        }
        trainer.schedule(() -> {
            try {
                create(profile, botId);
            } finally {
                pending.remove(key);
            }
        }, TRAINING_DELAY_S, TimeUnit.SECONDS);
    }

    /**
     * Returns the archive for runners of {@code profile}, creating it first when there is none (a
     * training run: a few seconds). Empty when the class path is not jars only, or the creation
     * failed (now or before in this process; logged once).
     *
     * @param botId the bot on whose behalf it is made (for the log)
     */
    public Optional<Path> create(Profile profile, String botId) {
        if (!applies()) {
            return Optional.empty();
        }
        String key = key(profile);
        synchronized (keyLocks.computeIfAbsent(key, k -> new Object())) {
            Optional<Path> existing = find(profile);
            if (existing.isPresent() || refused.contains(key)) {
                return existing;
            }
            long t0 = System.nanoTime();
            try {
                Path archive = train(profile, key);
                log.info("[{}] runner class archive {} created ({} KB) in {} ms", botId, archive,
                        Files.size(archive) / 1024, (System.nanoTime() - t0) / 1_000_000);
                prune();
                return Optional.of(archive);
            } catch (IOException | RuntimeException e) {
                refused.add(key);
                log.warn("[{}] no runner class archive (runners start without one): {}", botId, e.getMessage());
                return Optional.empty();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                log.info("[{}] runner class archive creation interrupted", botId);
                return Optional.empty();
            }
        }
    }

    // ---------------------------------------------------------------- key and names

    /** The hash naming the archives that fit runners of {@code profile}. */
    String key(Profile profile) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
        List<String> parts = new ArrayList<>(List.of("deia-runner-cds-1", System.getProperty("java.home"),
                System.getProperty("java.vm.version"), command.javaCommand(), command.mainClass()));
        for (Path entry : command.classPath()) {
            parts.add(entry.toString());
            try {
                parts.add(Files.size(entry) + "@" + Files.getLastModifiedTime(entry).toMillis());
            } catch (IOException e) {
                parts.add("missing");
            }
        }
        parts.add("options");
        parts.addAll(profile.runnerJvmOptions());
        for (String part : parts) {
            sha.update(part.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
        }
        return HexFormat.of().formatHex(sha.digest(), 0, 10);
    }

    private List<Path> candidates(String key) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> {
                Matcher m = NAME.matcher(f.getFileName().toString());
                return m.matches() && m.group(1).equals(key);
            }).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private boolean isIntact(Path archive) {
        Matcher m = NAME.matcher(archive.getFileName().toString());
        if (!m.matches()) {
            return false;
        }
        String seen;
        try {
            seen = archive.getFileName() + "@" + Files.size(archive) + "@" + Files.getLastModifiedTime(archive).toMillis();
            if (verified.contains(seen)) {
                return true;
            }
            long size = Files.size(archive);
            if (size == Long.parseLong(m.group(2)) && crc32(archive).equals(m.group(3))) {
                verified.add(seen);
                return true;
            }
        } catch (IOException | NumberFormatException e) {
            log.warn("[{}] cannot check runner class archive {}: {}", TRAINING_BOT_ID, archive, e.getMessage());
            return false;
        }
        log.warn("[{}] runner class archive {} does not match its recorded size and CRC-32: deleted, not used",
                TRAINING_BOT_ID, archive);
        try {
            Files.deleteIfExists(archive);
        } catch (IOException e) {
            log.warn("[{}] cannot delete damaged archive {}: {}", TRAINING_BOT_ID, archive, e.getMessage());
        }
        return false;
    }

    private static String crc32(Path file) throws IOException {
        CRC32 crc = new CRC32();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                crc.update(buf, 0, n);
            }
        }
        return String.format("%08x", crc.getValue());
    }

    /** A training run into a temporary file, synced and renamed into place: a reader sees a whole archive or none. */
    private Path train(Profile profile, String key) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path tmp = dir.resolve(AtomicFiles.TEMP_PREFIX + "runner-" + key + "-" + ProcessHandle.current().pid()
                + "-" + System.nanoTime() + ".jsa");
        try {
            new ClassArchiveTraining(command).run(profile, tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Path archive = dir.resolve("runner-" + key + "-" + Files.size(tmp) + "-" + crc32(tmp) + ".jsa");
            AtomicFiles.move(tmp, archive);
            return archive;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Keeps the newest {@link #KEEP_ARCHIVES} archives: older ones belong to replaced jars or JDKs. */
    private void prune() {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> archives = files.filter(f -> NAME.matcher(f.getFileName().toString()).matches())
                    .sorted(Comparator.comparing(RunnerClassArchive::modified).reversed()).toList();
            for (Path old : archives.subList(Math.min(KEEP_ARCHIVES, archives.size()), archives.size())) {
                Files.deleteIfExists(old);
                log.info("[{}] deleted old runner class archive {}", TRAINING_BOT_ID, old);
            }
        } catch (IOException e) {
            log.warn("[{}] cannot prune runner class archives in {}: {}", TRAINING_BOT_ID, dir, e.getMessage());
        }
    }

    private static long modified(Path file) {
        try {
            return Files.getLastModifiedTime(file).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

}
