package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Port trouble (every port of the range taken) and disk trouble (the hive on a full filesystem and
 * on a read-only one, made with a 64 KiB tmpfs mount): clear errors, nothing half-written, and
 * everything works again once the trouble is gone.
 */
class PortAndDiskTest {
    private static final Logger log = LoggerFactory.getLogger(PortAndDiskTest.class);

    @TempDir
    Path dir;

    private final List<ServerSocket> taken = new ArrayList<>();
    private BotLauncher launcher;
    private Path mounted;

    @AfterEach
    void tearDown() throws Exception {
        for (ServerSocket s : taken) {
            s.close();
        }
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
        Torture.killAllInto(dir);
        if (mounted != null) {
            run("umount", "-l", mounted.toString());
        }
    }

    @Test
    void everyPortTakenGivesAClearErrorAndNothingHalfRegistered() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        int from = 31000 + new Random().nextInt(400) * 5;
        Path configFile = hive.root().resolve("deia.json");
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", from, "to", from + 2),
                "profiles", Map.of("cat", Map.of("agent", "command", "executable", "/bin/cat", "start_timeout_s", 60)))));
        DeiaConfig config = DeiaConfig.load(configFile);
        for (int p = from; p <= from + 2; p++) {
            taken.add(new ServerSocket(p, 1, InetAddress.getLoopbackAddress()));
        }
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(configFile).build();

        DeiaException e = assertThrows(DeiaException.class, () -> launcher.launch("BOT-P1", "cat"));
        assertEquals(ErrorCode.UNAVAILABLE, e.code(), e.getMessage());
        assertTrue(e.getMessage().toLowerCase(Locale.ROOT).contains("port"), e.getMessage());
        assertEquals(List.of(), registry.list(), "nothing half-registered");
        assertEquals(List.of(), Torture.processesInto(dir), "no runner was started");

        // One port free again: the same launch succeeds, on that port.
        taken.remove(1).close();
        assertEquals(from + 1, launcher.launch("BOT-P1", "cat").port());
        log.info("port trouble: {} ports taken -> {} '{}'; freed one -> launched", 3, e.code(), e.getMessage());
    }

    @Test
    void fullAndReadOnlyHiveGiveClearErrorsNoCorruptionAndRecover() throws Exception {
        mounted = dir.resolve("mnt");
        Files.createDirectories(mounted);
        boolean canMount = run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mounted.toString()) == 0;
        if (!canMount) {
            mounted = null;
        }
        Assumptions.assumeTrue(canMount, "ASSUMPTION: this test needs to mount a 64 KiB tmpfs (root with CAP_SYS_ADMIN); "
                + "uid " + new com.sun.security.auth.module.UnixSystem().getUid() + " could not, so disk trouble is not checked here");
        HiveLayout hive = new HiveLayout(mounted.resolve(".deia"));
        Path configFile = dir.resolve("deia.json"); // outside the small disk: the config is the operator's
        AtomicFiles.writeString(configFile, "{}");
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        HistoryStore history = new HistoryStore(hive);
        registry.reserve("BOT-D1", "cat", "command");
        queue.submit("BOT-D1", "---\ntask_id: before\n---\nfits\n");
        history.append("BOT-D1", HistoryStore.USER, "hello", "m-1", null);
        byte[] registryBefore = Files.readAllBytes(hive.registryFile());
        List<String> errors = new ArrayList<>();

        // Full: a filler file takes every free byte.
        Path filler = mounted.resolve("filler");
        try (FileOutputStream out = new FileOutputStream(filler.toFile())) {
            byte[] block = new byte[1024];
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            // the disk is full now
        }
        String big = "x".repeat(16 * 1024);
        errors.add(clearError(() -> registry.reserve("BOT-D2", "cat", "command"), "space"));
        errors.add(clearError(() -> queue.submit("BOT-D1", "---\ntask_id: full\n---\n" + big + "\n"), "space"));
        errors.add(clearError(() -> history.append("BOT-D1", HistoryStore.USER, big, "m-2", null), "space"));
        assertNoDamage(hive, registryBefore, List.of("before"));

        // Space returns: everything works again.
        Files.delete(filler);
        registry.reserve("BOT-D2", "cat", "command");
        assertEquals("full", queue.submit("BOT-D1", "---\ntask_id: full\n---\n" + big + "\n"));
        history.append("BOT-D1", HistoryStore.USER, big, "m-2", null);
        Torture.checkHiveFilesWhole(hive);
        registryBefore = Files.readAllBytes(hive.registryFile());

        // Read-only: writes fail clearly, reads work, nothing changes; read-write again recovers.
        // (The kernel refuses to remount read-only while a file is open for writing: the history is closed first.)
        history.close();
        assertEquals(0, run("mount", "-o", "remount,ro", mounted.toString()));
        HistoryStore readOnlyHistory = new HistoryStore(hive);
        errors.add(clearError(() -> registry.reserve("BOT-D3", "cat", "command"), "read-only"));
        errors.add(clearError(() -> queue.submit("BOT-D1", "---\ntask_id: ro\n---\nno\n"), "read-only"));
        errors.add(clearError(() -> readOnlyHistory.append("BOT-D1", HistoryStore.USER, "ro", "m-3", null), "read-only"));
        readOnlyHistory.close();
        assertEquals(2, registry.list().size(), "the registry is still readable");
        assertNoDamage(hive, registryBefore, List.of("before", "full"));
        assertEquals(0, run("mount", "-o", "remount,rw", mounted.toString()));
        registry.reserve("BOT-D3", "cat", "command");
        assertEquals("ro", queue.submit("BOT-D1", "---\ntask_id: ro\n---\nyes\n"));
        try (HistoryStore again = new HistoryStore(hive)) {
            assertEquals(3, again.append("BOT-D1", HistoryStore.USER, "rw again", "m-3", null).seq());
        }
        Torture.checkHiveFilesWhole(hive);
        assertEquals(3, registry.list().size());
        log.info("disk trouble: errors seen {}", errors);
        AtomicFiles.writeString(Path.of("target", "torture-disk.txt"), String.join("\n", errors) + "\n");
    }

    private static String clearError(org.junit.jupiter.api.function.Executable call, String cause) {
        DeiaException e = assertThrows(DeiaException.class, call);
        assertTrue(e.getMessage().toLowerCase(Locale.ROOT).contains(cause), "the error names the cause (" + cause + "): " + e.getMessage());
        return e.code().id() + ": " + e.getMessage();
    }

    /** The registry is byte for byte what it was; inboxes and history hold only whole files; no temp file is left. */
    private static void assertNoDamage(HiveLayout hive, byte[] registryBefore, List<String> inbox) throws IOException {
        assertArrayEquals(registryBefore, Files.readAllBytes(hive.registryFile()));
        Torture.checkHiveFilesWhole(hive);
        for (Path f : Torture.files(hive.root())) {
            assertTrue(!f.getFileName().toString().startsWith(AtomicFiles.TEMP_PREFIX), "temp file left: " + f);
        }
        assertEquals(inbox, Torture.files(hive.inboxDir("BOT-D1")).stream()
                .map(p -> p.getFileName().toString().replace(".md", "")).sorted().toList());
        for (String line : Files.readAllLines(hive.historyFile("BOT-D1"), StandardCharsets.UTF_8)) {
            Json.read(line, JsonNode.class, "history line");
        }
    }

    private static int run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }
}
