package io.deia.core.internal;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The hive's owner and mode checks, the private modes of what deia creates, and the refusal of
 * links at the fixed entries; each through the library's real entry points (registry, task queue,
 * history, config loading). The ownership cases need root (to give a folder to {@code nobody}).
 */
class HiveGuardTest {
    @TempDir
    Path dir;

    private final DeiaConfig config = DeiaConfig.of(Map.of());

    static UserPrincipal nobody() throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")), "giving a folder to another user needs root");
        return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aHiveOwnedByAnotherUserIsRefusedByEveryEntryPointAndNothingIsWritten() throws IOException {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.root());
        Files.setOwner(hive.root(), nobody());
        for (var open : List.<org.junit.jupiter.api.function.Executable>of(
                () -> new JsonFileServiceRegistry(hive, config),
                () -> new FileTaskQueue(hive, config),
                () -> new HistoryStore(hive),
                () -> HiveGuard.check(hive))) {
            DeiaException e = assertThrows(DeiaException.class, open);
            assertEquals(ErrorCode.UNPROCESSABLE, e.code());
            assertTrue(e.getMessage().contains("is owned by nobody, not by root"), e.getMessage());
            assertTrue(e.getMessage().contains("chown"), "the message says how to fix it: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
        }
        try (Stream<Path> s = Files.list(hive.root())) {
            assertEquals(0, s.count(), "nothing was created in the foreign hive");
        }
    }

    @Test
    void aHiveOthersMayWriteIsRefusedOneOthersMayOnlyReadIsTightened() throws IOException {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.root());
        Files.setPosixFilePermissions(hive.root(), PosixFilePermissions.fromString("rwxrwxrwx"));
        DeiaException e = assertThrows(DeiaException.class, () -> new JsonFileServiceRegistry(hive, config));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("writable by group or others (mode rwxrwxrwx)") && e.getMessage().contains("chmod 700"),
                e.getMessage());
        assertEquals("rwxrwxrwx", mode(hive.root()), "a refused hive is not changed");

        Files.setPosixFilePermissions(hive.root(), PosixFilePermissions.fromString("rwxrwxr-x"));
        assertThrows(DeiaException.class, () -> HiveGuard.check(hive), "group-writable is refused too");

        // Made by an older deia under umask 022: readable by all, writable by its owner only.
        Files.setPosixFilePermissions(hive.root(), PosixFilePermissions.fromString("rwxr-xr-x"));
        new JsonFileServiceRegistry(hive, config);
        assertEquals("rwx------", mode(hive.root()));
    }

    @Test
    void aForeignOrSharedFolderInsideTheHiveIsRefused() throws IOException {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.tasksRoot());
        Files.setPosixFilePermissions(hive.tasksRoot(), PosixFilePermissions.fromString("rwxrwxrwx"));
        DeiaException e = assertThrows(DeiaException.class, () -> new FileTaskQueue(hive, config));
        assertTrue(e.getMessage().contains(hive.tasksRoot() + " is writable by group or others"), e.getMessage());

        Files.setPosixFilePermissions(hive.tasksRoot(), PosixFilePermissions.fromString("rwx------"));
        Files.createDirectories(hive.inboxDir("BOT-001"));
        Files.setOwner(hive.inboxDir("BOT-001"), nobody());
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        e = assertThrows(DeiaException.class, () -> queue.submit("BOT-001", "hello"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("is owned by nobody"), e.getMessage());
        try (Stream<Path> s = Files.list(hive.inboxDir("BOT-001"))) {
            assertEquals(0, s.count(), "no task was put into the foreign inbox");
        }
    }

    @Test
    void aConfigFileOfAnotherUserOrWritableByOthersIsRefused() throws IOException {
        Path file = dir.resolve("deia.json");
        Files.writeString(file, "{\"profiles\":{\"demo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw-rw-"));
        DeiaException e = assertThrows(DeiaException.class, () -> DeiaConfig.load(file));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("config file " + file.toRealPath() + " is writable by group or others")
                && e.getMessage().contains("chmod 600"), e.getMessage());

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        Path link = dir.resolve("my-config.json");
        Files.createSymbolicLink(link, file);
        assertTrue(DeiaConfig.load(link).profiles().containsKey("demo"), "a link the user made to their config is followed");

        Files.setOwner(file, nobody());
        e = assertThrows(DeiaException.class, () -> DeiaConfig.load(link));
        assertTrue(e.getMessage().contains("is owned by nobody"), e.getMessage());
    }

    @Test
    void aLinkAtAFixedEntryOfTheHiveIsRefused() throws IOException {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.hiveDir());
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        Files.createSymbolicLink(hive.heartbeatsDir(), elsewhere);
        DeiaException e = assertThrows(DeiaException.class, () -> new JsonFileServiceRegistry(hive, config));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains(hive.heartbeatsDir() + " is a symbolic link"), e.getMessage());
        Files.delete(hive.heartbeatsDir());

        Path config = dir.resolve("their.json");
        Files.writeString(config, "{}");
        Files.createSymbolicLink(hive.defaultConfigFile(), config);
        e = assertThrows(DeiaException.class, () -> HiveGuard.check(hive));
        assertTrue(e.getMessage().contains("deia.json is a symbolic link"), e.getMessage());
    }

    @Test
    void everythingDeiaCreatesInAHiveIsPrivate() throws IOException {
        HiveLayout hive = new HiveLayout(dir.resolve("new").resolve(".deia"));
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        registry.reserve("BOT-001", "echo", "command");
        registry.heartbeat("BOT-001", BotState.IDLE);
        new FileTaskQueue(hive, config).submit("BOT-001", "a task");
        try (HistoryStore history = new HistoryStore(hive)) {
            history.append("BOT-001", "user", "a prompt", null, null);
        }
        AtomicFiles.writeNewSecret(hive.tokenFile(), "t".repeat(32).getBytes(StandardCharsets.UTF_8));
        HiveGuard.dir(hive, hive.archiveDir("BOT-001"));

        List<String> wrong = new ArrayList<>();
        int files = 0;
        try (Stream<Path> s = Files.walk(hive.root())) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String want = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "rwx------" : "rw-------";
                files += Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) ? 1 : 0;
                if (!mode(p).equals(want)) {
                    wrong.add(hive.root().relativize(p) + " " + mode(p));
                }
            }
        }
        assertTrue(files >= 4, "registry, inbox task, history, token: " + files);
        assertEquals(List.of(), wrong, "every folder 0700 and file 0600 under umask 022");
    }

    @Test
    void aHiveThatDoesNotExistYetPassesAndIsNotCreatedByTheCheck() {
        HiveLayout hive = new HiveLayout(dir.resolve("later"));
        HiveGuard.check(hive);
        assertFalse(Files.exists(hive.root()));
        Path inbox = HiveGuard.dir(hive, hive.inboxDir("BOT-001"));
        assertTrue(Files.isDirectory(inbox));
        assertTrue(HiveGuard.existingDir(hive, inbox));
        assertFalse(HiveGuard.existingDir(hive, hive.responsesDir("BOT-001")));
    }
}
