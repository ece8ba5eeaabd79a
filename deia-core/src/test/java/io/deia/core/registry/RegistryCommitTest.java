package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The registry's read-modify-write across processes and threads, the heartbeat file written under
 * the lock, and the error paths of a change.
 */
class RegistryCommitTest {
    @TempDir
    Path tmp;

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    private JsonFileServiceRegistry registry() {
        return new JsonFileServiceRegistry(hive(), DeiaConfig.of(Map.of()));
    }

    private static BotRecord.Builder self(String botId) {
        ProcessHandle me = ProcessHandle.current();
        return BotRecord.builder(botId).pid(me.pid()).processStart(me.info().startInstant().orElseThrow()).port(8101)
                .state(BotState.IDLE).profile("echo").agent("command");
    }

    private void runChild(String... args) throws Exception {
        Path log = tmp.resolve("child-" + System.nanoTime() + ".log");
        String[] all = new String[args.length + 1];
        all[0] = tmp.resolve(".deia").toString();
        System.arraycopy(args, 0, all, 1, args.length);
        Process p = ChildJvm.start(RegistryOneChangeWorker.class, log, all);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child did not finish");
        assertEquals(0, p.exitValue(), "child failed:\n" + Files.readString(log));
    }

    private static <T> CompletableFuture<T> inThread(Supplier<T> work) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(work.get());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        t.start();
        return f;
    }

    @Test
    void aWriteByAnotherProcessIsSeenAndBuiltOn() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        assertEquals(BotState.IDLE, r.get("BOT-001").orElseThrow().state());

        // "busy" and "idle" have the same length: the file changes content, not necessarily size.
        runChild("beat", "BOT-001", "busy");
        assertEquals(BotState.BUSY, r.get("BOT-001").orElseThrow().state());

        // A read-modify-write of this process builds on the other process's write, and the other
        // process on this one's: neither increment is lost.
        r.update("BOT-001", b -> b.toBuilder().restarts(b.restarts() + 1).build());
        runChild("restarts", "BOT-001");
        BotRecord after = r.update("BOT-001", b -> b.toBuilder().restarts(b.restarts() + 1).build()).orElseThrow();
        assertEquals(3, after.restarts());
        assertEquals(BotState.BUSY, after.state());
        assertEquals(after, new JsonFileServiceRegistry(hive(), DeiaConfig.of(Map.of())).get("BOT-001").orElseThrow());
    }

    @Test
    void theHeartbeatFileHoldsTheCommittedEntryAfterAnotherProcessChangedIt() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        Path hb = hive().heartbeatFile("BOT-001");
        BotRecord first = r.heartbeat("BOT-001", BotState.BUSY).orElseThrow();
        assertEquals(first, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"));

        // Another process beats the same entry (only liveness changes; "busy" and "idle" have the
        // same length) and then changes a field this JVM's expectation cannot know.
        runChild("beat", "BOT-001", "idle");
        BotRecord afterTheirBeat = r.heartbeat("BOT-001", BotState.BUSY).orElseThrow();
        assertEquals(afterTheirBeat, r.get("BOT-001").orElseThrow());
        assertEquals(afterTheirBeat, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"));
        runChild("restarts", "BOT-001");
        BotRecord afterTheirChange = r.heartbeat("BOT-001", BotState.IDLE).orElseThrow();
        assertEquals(1, afterTheirChange.restarts());
        assertEquals(afterTheirChange, r.get("BOT-001").orElseThrow());
        assertEquals(afterTheirChange, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"),
                "the file holds the committed entry, with the other process's change");
        BotRecord refresh = r.heartbeat("BOT-001", BotState.BUSY).orElseThrow();
        assertEquals(refresh, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"));

        // No temp file is left behind.
        try (java.util.stream.Stream<Path> files = Files.list(hive().heartbeatsDir())) {
            assertEquals(List.of("BOT-001.json"), files.map(p -> p.getFileName().toString()).toList());
        }
        try (java.util.stream.Stream<Path> files = Files.list(hive().hiveDir())) {
            assertEquals(List.of(), files.filter(AtomicFiles::isTempFile).toList());
        }
    }

    @Test
    void aFileReplacedOutsideTheRegistryIsReadAgain() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        r.list();
        String text = Files.readString(hive().registryFile()).replace("\"port\" : 8101", "\"port\" : 8102");
        AtomicFiles.writeString(hive().registryFile(), text);
        assertEquals(8102, r.get("BOT-001").orElseThrow().port());
    }

    @Test
    void aChangeThatThrowsLeavesTheEntriesAsTheyWere() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("HOLDER").build());
        r.update("HOLDER", b -> b.toBuilder().restarts(1).build());
        DeiaException refused = assertThrows(DeiaException.class, () -> r.update("HOLDER", b -> {
            throw DeiaException.invalid("refused on purpose");
        }));
        assertEquals(ErrorCode.INVALID_ARGUMENT, refused.code());
        assertEquals(1, registry().get("HOLDER").orElseThrow().restarts(), "the refused change left HOLDER as it was");
    }

    @Test
    void aChangeFailsWhenTheFileCannotBeLoadedAndIsNotAppliedLater() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("HOLDER").build());
        JsonFileServiceRegistry other = registry();
        // The registry file becomes something no one can read or replace: a folder.
        Files.delete(hive().registryFile());
        Files.createDirectories(hive().registryFile().resolve("in-the-way"));
        assertEquals(ErrorCode.INTERNAL, assertThrows(DeiaException.class, () -> r.register(self("A").build())).code());
        assertEquals(ErrorCode.INTERNAL, assertThrows(DeiaException.class, () -> other.register(self("B").build())).code());

        Files.delete(hive().registryFile().resolve("in-the-way"));
        Files.delete(hive().registryFile());
        r.register(self("D").build());
        assertEquals(List.of("D"), registry().list().stream().map(BotRecord::botId).toList(),
                "failed changes are not applied later");
        try (var files = Files.list(hive().hiveDir())) {
            assertEquals(List.of(), files.filter(AtomicFiles::isTempFile).toList());
        }
    }

    @Test
    void aChangeWhoseLockCannotBeTakenFailsAndIsNotAppliedByALaterCommit() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("A").build());
        // The lock file cannot be opened (on a read-only or full disk it cannot be either).
        Path lockFile = hive().registryLockFile();
        Files.delete(lockFile);
        Files.createDirectories(lockFile);
        DeiaException refused = assertThrows(DeiaException.class, () -> r.register(self("B").build()));
        assertEquals(ErrorCode.INTERNAL, refused.code());

        Files.delete(lockFile);
        r.register(self("C").build());
        assertEquals(List.of("A", "C"), registry().list().stream().map(BotRecord::botId).toList(),
                "the refused change stays refused");
    }

    @Test
    void manyThreadsOfOneJvmLoseNoUpdate() throws Exception {
        int threads = 8;
        int each = 20;
        registry().register(self("COUNTER").build());
        // Half the threads name the hive folder another way: one lock must still cover both.
        Files.createDirectories(tmp.resolve("x"));
        CompletableFuture<?>[] all = new CompletableFuture<?>[threads];
        for (int t = 0; t < threads; t++) {
            String id = "T" + t;
            JsonFileServiceRegistry own = t % 2 == 0 ? registry() : new JsonFileServiceRegistry(
                    new HiveLayout(tmp.resolve("x/../.deia")), DeiaConfig.of(Map.of()));
            all[t] = inThread(() -> {
                own.register(self(id).build());
                for (int i = 0; i < each; i++) {
                    own.update("COUNTER", b -> b.toBuilder().restarts(b.restarts() + 1).build());
                    own.heartbeat(id, i % 2 == 0 ? BotState.BUSY : BotState.IDLE).orElseThrow();
                }
                return null;
            });
        }
        CompletableFuture.allOf(all).get(120, TimeUnit.SECONDS);
        JsonFileServiceRegistry fresh = registry();
        assertEquals(threads * each, fresh.get("COUNTER").orElseThrow().restarts());
        for (int t = 0; t < threads; t++) {
            BotRecord r = fresh.get("T" + t).orElseThrow();
            assertEquals(BotState.IDLE, r.state());
            assertEquals(r, Json.read(AtomicFiles.readString(hive().heartbeatFile("T" + t)), BotRecord.class, "heartbeat"));
        }
    }

    @Test
    void theHeartbeatFileFollowsEveryBeatAndIsRecreatedWhenRemoved() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        Path hb = hive().heartbeatFile("BOT-001");
        for (BotState s : List.of(BotState.BUSY, BotState.IDLE, BotState.BUSY)) {
            BotRecord beat = r.heartbeat("BOT-001", s).orElseThrow();
            assertEquals(beat, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"));
        }
        Files.delete(hb);
        BotRecord beat = r.heartbeat("BOT-001", BotState.IDLE).orElseThrow();
        assertEquals(beat, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat"));

        // A change of more than liveness (here the port) is written to the heartbeat file as well.
        r.update("BOT-001", b -> b.toBuilder().port(8102).build());
        assertEquals(8102, r.heartbeat("BOT-001", BotState.IDLE).orElseThrow().port());
        assertEquals(8102, Json.read(AtomicFiles.readString(hb), BotRecord.class, "heartbeat").port());

        // Removed by another registry instance: a beat after that neither re-adds the entry nor the file.
        assertTrue(registry().deregister("BOT-001"));
        assertFalse(Files.exists(hb));
        assertEquals(Optional.empty(), r.heartbeat("BOT-001", BotState.IDLE));
        assertFalse(Files.exists(hb));
    }
}
