package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.io.Json;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cross-process combining: requests other processes left in {@code registry.pending/} are applied
 * exactly once by the lock holder, with their results in the ledger of {@code registry.json}; a
 * waiter takes its result from there, or applies its change itself when its request was dropped.
 */
class RegistryCombiningTest {
    /** Writer ids of processes that are not running (pid 1 runs, but did not start at that instant). */
    private static final String OTHER = "1-1";
    private static final String THIRD = "1-2";

    @TempDir
    Path tmp;

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    private JsonFileServiceRegistry registry() {
        return new JsonFileServiceRegistry(hive(), DeiaConfig.of(Map.of()));
    }

    private BotRecord bot(String id) {
        return BotRecord.builder(id).port(0).state(BotState.IDLE).profile("p").agent("command").build();
    }

    /** Leaves a request as another process would. */
    private Path leave(String writer, long seq, String changesJson) throws Exception {
        Path dir = hive().registryPendingDir();
        Files.createDirectories(dir);
        Path f = dir.resolve(writer + "-" + seq + ".json");
        Files.writeString(f, "{\"writer\":\"" + writer + "\",\"seq\":" + seq + ",\"changes\":" + changesJson + "}");
        return f;
    }

    private JsonNode ledger() throws Exception {
        return Json.readTree(Files.readString(hive().registryFile()), "registry.json").path("combined");
    }

    private List<Path> requestFiles() throws Exception {
        Path dir = hive().registryPendingDir();
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        }
    }

    @Test
    void theNextWriteAppliesWaitingRequestsOnceAndRecordsTheirResults() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        registry.register(bot("B"));
        Path request = leave(OTHER, 7, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"busy\"},"
                + "{\"op\":\"deregister\",\"bot_id\":\"B\"},{\"op\":\"deregister\",\"bot_id\":\"NOPE\"},"
                + "{\"op\":\"heartbeat\",\"bot_id\":\"NOPE\",\"state\":\"idle\"}]");

        registry.register(bot("C"));

        assertEquals(BotState.BUSY, registry.get("A").orElseThrow().state());
        assertTrue(registry.get("B").isEmpty());
        assertFalse(Files.exists(request), "an applied request file is removed");
        JsonNode applied = ledger().path(OTHER);
        assertEquals(7, applied.path("seq").asLong());
        JsonNode results = applied.path("results");
        assertEquals(4, results.size());
        assertEquals("busy", results.get(0).path("state").asText());
        assertTrue(results.get(1).asBoolean());
        assertFalse(results.get(2).asBoolean());
        assertTrue(results.get(3).isNull());
        assertTrue(Files.exists(hive().heartbeatFile("A")), "the holder writes the heartbeat file of a combined heartbeat");

        // The same request again, as if its file outlived a holder killed right after the write:
        // the ledger says it is applied, so it is removed and not applied a second time.
        registry.update("A", r -> r.toBuilder().state(BotState.PAUSED).build());
        leave(OTHER, 7, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"busy\"}]");
        leave(OTHER, 6, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"busy\"}]");
        registry.register(bot("D"));
        assertEquals(BotState.PAUSED, registry.get("A").orElseThrow().state(), "a request already applied ran again");
        assertEquals(List.of(), requestFiles());

        // A newer request of the same writer is applied.
        leave(OTHER, 8, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"idle\"}]");
        registry.register(bot("E"));
        assertEquals(BotState.IDLE, registry.get("A").orElseThrow().state());
        assertEquals(8, ledger().path(OTHER).path("seq").asLong());
    }

    @Test
    void unreadableRequestsAreRemovedAndDoNotStopTheWrite() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        Path garbage = hive().registryPendingDir().resolve("x.json");
        Files.createDirectories(garbage.getParent());
        Files.writeString(garbage, "{not json");
        Path badId = leave(OTHER, 1, "[{\"op\":\"deregister\",\"bot_id\":\"../x\"}]");
        Path badOp = leave(THIRD, 1, "[{\"op\":\"explode\",\"bot_id\":\"A\"}]");
        Path empty = leave("2-2", 1, "[]");
        Path freshTemp = hive().registryPendingDir().resolve(".deia-tmp-young.json.1");
        Files.writeString(freshTemp, "half");
        Path oldTemp = hive().registryPendingDir().resolve(".deia-tmp-old.json.2");
        Files.writeString(oldTemp, "half");
        Files.setLastModifiedTime(oldTemp, FileTime.from(Instant.now().minus(Duration.ofMinutes(5))));

        registry.heartbeat("A", BotState.BUSY).orElseThrow();

        assertEquals(BotState.BUSY, registry.get("A").orElseThrow().state());
        for (Path p : List.of(garbage, badId, badOp, empty, oldTemp)) {
            assertFalse(Files.exists(p), p + " should be removed");
        }
        assertTrue(Files.exists(freshTemp), "a young temp file may be a request being written");
        assertTrue(ledger().isMissingNode(), "nothing was combined, so the file has no ledger");
    }

    @Test
    void aDamagedRegistryDropsWaitingRequestsButKeepsTheReadableLedger() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        leave(OTHER, 3, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"busy\"}]");
        registry.register(bot("B"));
        String text = Files.readString(hive().registryFile());
        // Damage one entry; the ledger stays readable.
        Files.writeString(hive().registryFile(), text.replaceFirst("\"bot_id\" : \"B\"", "\"bot_id\" : \"Z\""));
        Path waiting = leave(THIRD, 1, "[{\"op\":\"deregister\",\"bot_id\":\"A\"}]");

        registry.register(bot("C"));

        assertFalse(Files.exists(waiting), "a request cannot be proven unapplied after a rebuild: dropped");
        assertTrue(registry.get("A").isPresent(), "the dropped request was not applied");
        assertEquals(3, ledger().path(OTHER).path("seq").asLong(), "readable ledger entries survive the rebuild");
        try (Stream<Path> files = Files.list(hive().hiveDir())) {
            assertEquals(1, files.filter(p -> p.getFileName().toString().contains("corrupt")).count());
        }
    }

    @Test
    void ledgerEntriesOfProcessesThatAreGoneArePrunedOnceThereAreMany() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        for (int w = 0; w <= RegistryCommitter.LEDGER_PRUNE_AT; w++) {
            leave("1-" + (100 + w), 1, "[{\"op\":\"heartbeat\",\"bot_id\":\"A\",\"state\":\"busy\"}]");
        }
        registry.register(bot("B"));
        assertTrue(ledger().size() <= 1, "entries of writers that are not running are dropped: " + ledger());
        assertEquals(List.of(), requestFiles());
    }

    @Test
    void resultsAndErrorsTravelThroughTheLedger() {
        PortableChange beat = PortableChange.heartbeat("A", BotState.BUSY);
        SortedMap<String, BotRecord> bots = new TreeMap<>(Map.of("A", bot("A")));
        Object result = beat.apply(bots);
        assertEquals(result, beat.decodeResult(beat.encodeResult(result)));
        assertEquals(Optional.empty(), beat.decodeResult(beat.encodeResult(Optional.empty())));
        PortableChange gone = PortableChange.deregister("A");
        assertEquals(true, gone.decodeResult(gone.encodeResult(gone.apply(bots))));
        assertEquals(false, gone.decodeResult(gone.encodeResult(gone.apply(bots))));

        DeiaException e = assertThrows(DeiaException.class,
                () -> beat.decodeResult(PortableChange.encodeError(DeiaException.conflict("bot %s is taken", "A"))));
        assertEquals(ErrorCode.CONFLICT, e.code());
        assertEquals("bot A is taken", e.getMessage());
        assertEquals(ErrorCode.INTERNAL, assertThrows(DeiaException.class,
                () -> beat.decodeResult(PortableChange.encodeError(new IllegalStateException("boom")))).code());

        assertThrows(DeiaException.class, () -> PortableChange.heartbeat("../x", BotState.IDLE));
        assertThrows(DeiaException.class, () -> new PortableChange("explode", "A", null));
        assertThrows(DeiaException.class, () -> new PortableChange(PortableChange.DEREGISTER, "A", BotState.IDLE));
        assertThrows(NullPointerException.class, () -> new PortableChange(PortableChange.HEARTBEAT, "A", null));
    }

    /**
     * The whole hand-over with a real second process holding the lock: this JVM's heartbeat leaves
     * a request and waits; the "holder" (played by the test, writing the file as a holder would)
     * applies it and removes the request file; the waiter returns the result from the ledger while
     * the other process still holds the lock.
     */
    @Test
    void aWaiterTakesItsResultFromTheLedgerWithoutTakingTheLock() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        Path signals = Files.createDirectories(tmp.resolve("signals"));
        Process holder = ChildJvm.start(RegistryLockHolder.class, tmp.resolve("holder.log"),
                hive().registryLockFile().toString(), signals.toString());
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(signals.resolve("locked")));
            CompletableFuture<Optional<BotRecord>> beat = CompletableFuture.supplyAsync(() -> registry.heartbeat("A", BotState.BUSY));
            Path request = awaitOwnRequest();
            long seq = Long.parseLong(request.getFileName().toString().replaceAll(".*-([0-9]+)\\.json$", "$1"));

            RegistryFile holderView = new RegistryFile(hive());
            SortedMap<String, BotRecord> bots = new TreeMap<>(holderView.read().bots());
            BotRecord applied = bots.get("A").toBuilder().state(BotState.BUSY).lastError("applied by the holder").build();
            bots.put("A", applied);
            PortableChange change = PortableChange.heartbeat("A", BotState.BUSY);
            holderView.write(bots, Map.of(RegistryRequests.WRITER,
                    new RegistryFile.Applied(seq, List.of(change.encodeResult(Optional.of(applied))))));
            Files.delete(request);

            Optional<BotRecord> result = beat.get(30, TimeUnit.SECONDS);
            assertEquals("applied by the holder", result.orElseThrow().lastError());
            assertTrue(holder.isAlive(), "the answer came while the other process held the lock");
        } finally {
            Files.writeString(signals.resolve("release"), "release");
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
    }

    /** A waiter whose request file was dropped without a ledger mark applies its change itself. */
    @Test
    void aWaiterWhoseRequestWasDroppedAppliesItsChangeItself() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        Path signals = Files.createDirectories(tmp.resolve("signals"));
        Process holder = ChildJvm.start(RegistryLockHolder.class, tmp.resolve("holder.log"),
                hive().registryLockFile().toString(), signals.toString());
        CompletableFuture<Boolean> gone;
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(signals.resolve("locked")));
            gone = CompletableFuture.supplyAsync(() -> registry.deregister("A"));
            Files.delete(awaitOwnRequest());
        } finally {
            Files.writeString(signals.resolve("release"), "release");
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        assertTrue(gone.get(30, TimeUnit.SECONDS));
        assertTrue(registry.get("A").isEmpty());
        assertEquals(List.of(), requestFiles());
    }

    /** When the holder lets go without serving the request, the waiter takes the lock and applies it. */
    @Test
    void aWaiterAppliesItsOwnRequestWhenTheHolderLetsGoWithoutIt() throws Exception {
        JsonFileServiceRegistry registry = registry();
        registry.register(bot("A"));
        Path signals = Files.createDirectories(tmp.resolve("signals"));
        Process holder = ChildJvm.start(RegistryLockHolder.class, tmp.resolve("holder.log"),
                hive().registryLockFile().toString(), signals.toString());
        CompletableFuture<Optional<BotRecord>> beat;
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(signals.resolve("locked")));
            beat = CompletableFuture.supplyAsync(() -> registry.heartbeat("A", BotState.BUSY));
            awaitOwnRequest();
        } finally {
            Files.writeString(signals.resolve("release"), "release");
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(BotState.BUSY, beat.get(30, TimeUnit.SECONDS).orElseThrow().state());
        assertEquals(BotState.BUSY, registry.get("A").orElseThrow().state());
        assertEquals(List.of(), requestFiles());
        assertTrue(ledger().has(RegistryRequests.WRITER), "its own request number is marked, so the file can never run again");
    }

    private Path awaitOwnRequest() {
        Path[] found = new Path[1];
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            for (Path p : requestFiles()) {
                if (p.getFileName().toString().startsWith(RegistryRequests.WRITER + "-")) {
                    found[0] = p;
                    return true;
                }
            }
            return false;
        });
        return found[0];
    }
}
