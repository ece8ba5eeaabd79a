package io.deia.core.schedule;

import io.deia.core.HiveLayout;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettings.ProfileSettings;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TurnSlotsTest {
    @TempDir
    Path tmp;

    private final List<SlotLease> leases = new CopyOnWriteArrayList<>();
    private final List<Process> children = new ArrayList<>();
    private final List<SlotLease> leasesClosed = new CopyOnWriteArrayList<>();

    @AfterEach
    void releaseAll() {
        leases.forEach(SlotLease::close);
        children.forEach(Process::destroyForcibly);
    }

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    private static HiveSettings limits(Integer hive, String profile, Integer profileMax) {
        Map<String, ProfileSettings> profiles = profile == null ? Map.of()
                : Map.of(profile, new ProfileSettings(profileMax, null, null));
        return new HiveSettings(hive, null, profiles, List.of(), null);
    }

    private SlotLease take(TurnSlots slots) throws InterruptedException {
        SlotLease lease = slots.acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
        leases.add(lease);
        return lease;
    }

    /** Acquires on a thread of its own; the future completes with the lease. */
    private CompletableFuture<SlotLease> waiting(TurnSlots slots, TurnOrder order, List<String> served, String name) {
        CompletableFuture<SlotLease> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                SlotLease lease = slots.acquire(order, "T-" + name, () -> false, () -> { });
                leases.add(lease);
                served.add(name);
                f.complete(lease);
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "waiter-" + name);
        t.setDaemon(true);
        t.start();
        return f;
    }

    @Test
    void withoutLimitsNothingIsTouched() throws Exception {
        TurnSlots slots = new TurnSlots(hive(), "BOT-1", "p", () -> HiveSettings.NONE);
        assertSame(SlotLease.NONE, take(slots));
        assertFalse(Files.exists(hive().slotsDir()), "no slot file without a limit");
    }

    @Test
    void hiveLimitQueuesTheNextTurnUntilASlotFrees() throws Exception {
        Supplier<HiveSettings> s = () -> limits(2, null, null);
        SlotLease a = take(new TurnSlots(hive(), "BOT-1", "p", s));
        SlotLease b = take(new TurnSlots(hive(), "BOT-2", "p", s));
        assertTrue(a.holdsSlots() && b.holdsSlots());
        TurnSlots third = new TurnSlots(hive(), "BOT-3", "p", s);
        List<String> served = new CopyOnWriteArrayList<>();
        CompletableFuture<SlotLease> c = waiting(third, TurnOrder.chat(Instant.now()), served, "c");
        await().atMost(Duration.ofSeconds(5)).until(() -> Integer.valueOf(1).equals(third.queuePosition()));
        assertEquals(Map.of("BOT-3", 1), new WaitingLine(hive()).positions());
        assertTrue(Files.exists(hive().slotsDir().resolve("waiting").resolve("BOT-3.json")));
        assertFalse(c.isDone());
        a.close();
        SlotLease got = c.get(5, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(got.holdsSlots());
        assertNull(third.queuePosition());
        assertEquals(Map.of(), new WaitingLine(hive()).positions());
        assertFalse(Files.exists(hive().slotsDir().resolve("waiting").resolve("BOT-3.json")), "the entry leaves the line");
    }

    @Test
    void lineIsServedByPriorityThenChatBeforeTasksThenAge() throws Exception {
        Supplier<HiveSettings> s = () -> limits(1, null, null);
        SlotLease holder = take(new TurnSlots(hive(), "HOLDER", "p", s));
        Instant old = Instant.parse("2026-01-01T00:00:00Z");
        List<String> served = Collections.synchronizedList(new ArrayList<>());
        List<TurnSlots> all = new ArrayList<>();
        Map<String, TurnOrder> orders = Map.of(
                "p3-old", new TurnOrder(3, false, old),
                "p2-task-old", new TurnOrder(2, false, old),
                "p2-task-new", new TurnOrder(2, false, old.plusSeconds(60)),
                "p2-chat-new", TurnOrder.chat(Instant.now()),
                "p0-new", new TurnOrder(0, false, Instant.now()));
        List<CompletableFuture<SlotLease>> futures = new ArrayList<>();
        for (Map.Entry<String, TurnOrder> e : orders.entrySet()) {
            TurnSlots slots = new TurnSlots(hive(), e.getKey(), "p", s);
            all.add(slots);
            futures.add(waiting(slots, e.getValue(), served, e.getKey()));
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> all.stream().allMatch(t -> t.queuePosition() != null));
        assertEquals(List.of("p0-new", "p2-chat-new", "p2-task-old", "p2-task-new", "p3-old"),
                new ArrayList<>(new WaitingLine(hive()).positions().keySet()));
        holder.close();
        for (int i = 1; i <= orders.size(); i++) {
            int n = i;
            await().atMost(Duration.ofSeconds(5)).until(() -> served.size() == n);
            // Exactly one at a time: the one just served still holds the only slot.
            assertEquals(n, served.size());
            SlotLease last = futures.stream().filter(CompletableFuture::isDone).map(CompletableFuture::join)
                    .filter(l -> !leasesClosed.contains(l)).findFirst().orElseThrow();
            leasesClosed.add(last);
            last.close();
        }
        assertEquals(List.of("p0-new", "p2-chat-new", "p2-task-old", "p2-task-new", "p3-old"), served);
    }

    @Test
    void aFullProfileHoldsBackOnlyItsOwnBots() throws Exception {
        Supplier<HiveSettings> s = () -> limits(3, "a", 1);
        SlotLease a1 = take(new TurnSlots(hive(), "A-1", "a", s));
        assertTrue(a1.holdsSlots());
        assertTrue(a1.toString().contains("profile-a-0.lock"), a1.toString());
        assertTrue(Files.readString(hive().slotsDir().resolve("profile-a-0.lock")).contains("\"bot_id\":\"A-1\""));
        TurnSlots a2 = new TurnSlots(hive(), "A-2", "a", s);
        List<String> served = new CopyOnWriteArrayList<>();
        CompletableFuture<SlotLease> a2Lease = waiting(a2, new TurnOrder(0, false, Instant.EPOCH), served, "a2");
        await().atMost(Duration.ofSeconds(5)).until(() -> a2.queuePosition() != null);
        // Behind A-2 in line (lower priority, younger), yet served at once: profile b has room, and so has the hive.
        SlotLease b1 = new TurnSlots(hive(), "B-1", "b", s).acquire(new TurnOrder(3, false, Instant.now()), "T", () -> false, () -> { });
        leases.add(b1);
        assertTrue(b1.holdsSlots());
        assertFalse(a2Lease.isDone());
        a1.close();
        assertTrue(a2Lease.get(5, java.util.concurrent.TimeUnit.SECONDS).holdsSlots());
    }

    @Test
    void aRaisedLimitAppliesToTheWaitingTurn() throws Exception {
        AtomicReference<HiveSettings> settings = new AtomicReference<>(limits(1, null, null));
        take(new TurnSlots(hive(), "BOT-1", "p", settings::get));
        TurnSlots second = new TurnSlots(hive(), "BOT-2", "p", settings::get);
        CompletableFuture<SlotLease> f = waiting(second, TurnOrder.chat(Instant.now()), new CopyOnWriteArrayList<>(), "2");
        await().atMost(Duration.ofSeconds(5)).until(() -> second.queuePosition() != null);
        settings.set(limits(2, null, null));
        assertTrue(f.get(5, java.util.concurrent.TimeUnit.SECONDS).holdsSlots());
        // Lowered below what is held (two slots held, limit 1): nobody new gets in.
        settings.set(limits(1, null, null));
        TurnSlots third = new TurnSlots(hive(), "BOT-3", "p", settings::get);
        waiting(third, TurnOrder.chat(Instant.now()), new CopyOnWriteArrayList<>(), "3");
        await().atMost(Duration.ofSeconds(5)).until(() -> third.queuePosition() != null);
        // Unlimited again: the waiter goes at once, holding nothing.
        settings.set(HiveSettings.NONE);
        await().atMost(Duration.ofSeconds(5)).until(() -> third.queuePosition() == null);
    }

    @Test
    void aCancelledWaitLeavesTheLine() throws Exception {
        Supplier<HiveSettings> s = () -> limits(1, null, null);
        take(new TurnSlots(hive(), "BOT-1", "p", s));
        TurnSlots second = new TurnSlots(hive(), "BOT-2", "p", s);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicBoolean queued = new AtomicBoolean();
        CompletableFuture<SlotLease> f = CompletableFuture.supplyAsync(() -> {
            try {
                return second.acquire(TurnOrder.chat(Instant.now()), null, stop::get, () -> queued.set(true));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(5)).until(queued::get);
        stop.set(true);
        assertNull(f.get(5, java.util.concurrent.TimeUnit.SECONDS), "a cancelled wait takes no slot");
        assertNull(second.queuePosition());
        assertEquals(Map.of(), new WaitingLine(hive()).positions());
    }

    @Test
    void anInterruptedWaitLeavesTheLine() throws Exception {
        Supplier<HiveSettings> s = () -> limits(1, null, null);
        take(new TurnSlots(hive(), "BOT-1", "p", s));
        TurnSlots second = new TurnSlots(hive(), "BOT-2", "p", s);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                second.acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        await().atMost(Duration.ofSeconds(5)).until(() -> second.queuePosition() != null);
        t.interrupt();
        t.join(5000);
        assertTrue(thrown.get() instanceof InterruptedException, String.valueOf(thrown.get()));
        assertEquals(Map.of(), new WaitingLine(hive()).positions());
    }

    @Test
    void aSlotOfARunnerKilledWithMinus9IsTakenOver() throws Exception {
        Path log = tmp.resolve("child.log");
        Process child = ChildJvm.start(SlotHolderMain.class, log, hive().root().toString(), "CHILD", "1");
        children.add(child);
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(log) && Files.readString(log).contains("HELD"));
        Supplier<HiveSettings> s = () -> limits(1, null, null);
        TurnSlots mine = new TurnSlots(hive(), "BOT-1", "p", s);
        CompletableFuture<SlotLease> f = waiting(mine, TurnOrder.chat(Instant.now()), new CopyOnWriteArrayList<>(), "1");
        await().atMost(Duration.ofSeconds(5)).until(() -> mine.queuePosition() != null);
        assertTrue(Files.readString(hive().slotsDir().resolve("hive-0.lock")).contains("\"bot_id\":\"CHILD\""),
                "the holder is written into its slot file");
        child.destroyForcibly().waitFor();
        // No release event from a killed runner: the periodic recheck finds the slot free.
        assertTrue(f.get(10, java.util.concurrent.TimeUnit.SECONDS).holdsSlots());
    }

    @Test
    void theEntryOfAWaiterKilledWithMinus9IsIgnoredAndRemoved() throws Exception {
        Supplier<HiveSettings> s = () -> limits(1, null, null);
        SlotLease mine = take(new TurnSlots(hive(), "BOT-1", "p", s));
        Path log = tmp.resolve("child.log");
        Process child = ChildJvm.start(SlotHolderMain.class, log, hive().root().toString(), "CHILD", "1");
        children.add(child);
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(log) && Files.readString(log).contains("QUEUED"));
        assertEquals(Map.of("CHILD", 1), new WaitingLine(hive()).positions());
        child.destroyForcibly().waitFor();
        assertEquals(Map.of(), new WaitingLine(hive()).positions(), "a dead runner's entry is not in line");
        Path entry = hive().slotsDir().resolve("waiting").resolve("CHILD.json");
        assertTrue(Files.exists(entry));
        mine.close();
        // The next look at the line (under its lock) deletes the dead entry.
        take(new TurnSlots(hive(), "BOT-2", "p", s));
        assertFalse(Files.exists(entry));
    }

    @Test
    void everySlotIsFreeOnceReleased() throws Exception {
        Supplier<HiveSettings> s = () -> limits(3, "p", 2);
        for (int i = 0; i < 2; i++) {
            take(new TurnSlots(hive(), "BOT-" + i, "p", s));
        }
        leases.forEach(SlotLease::close);
        try (Stream<Path> files = Files.list(hive().slotsDir())) {
            for (Path f : files.filter(p -> p.toString().endsWith(".lock")).toList()) {
                assertFalse(HeldFile.isLocked(f), f + " is still locked");
                assertEquals(0, Files.size(f), "a free slot file names no holder");
            }
        }
    }

    @Test
    void profileNamesThatAreNoPlainFileNameAreHashed() {
        assertEquals("claude_1", SlotFiles.profileKey("claude_1"));
        String key = SlotFiles.profileKey("../x y");
        assertTrue(key.matches("h[0-9a-f]{16}"), key);
    }
}
