package io.deia.core.bot;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotEventBusTest {
    @Test
    void numbersEventsAndReplaysOnlyTheNewestWithinCapacity() {
        BotEventBus bus = new BotEventBus(3);
        for (int i = 0; i < 5; i++) {
            bus.publish(BotEvent.status("BOT-1", "s" + i));
        }
        assertEquals(5, bus.lastSeq());
        List<BotEvent> all = bus.after(0);
        assertEquals(List.of(3L, 4L, 5L), all.stream().map(BotEvent::seq).toList());
        assertEquals(List.of("s3", "s4"), bus.after(3).stream().map(BotEvent::state).toList());
        assertTrue(bus.after(5).isEmpty());
    }

    @Test
    void awaitAfterWakesOnPublishAndReturnsOnClose() throws Exception {
        BotEventBus bus = new BotEventBus(10);
        CompletableFuture<List<BotEvent>> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                return bus.awaitAfter(0, Duration.ofMinutes(1));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        bus.publish(BotEvent.task("BOT-1", "t1", "claimed", null, 1, null));
        List<BotEvent> got = waiter.get();
        assertEquals(1, got.size());
        assertEquals("t1", got.get(0).taskId());

        CompletableFuture<List<BotEvent>> second = CompletableFuture.supplyAsync(() -> {
            try {
                return bus.awaitAfter(1, Duration.ofMinutes(1));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        bus.close();
        assertTrue(second.get().isEmpty());
        assertTrue(bus.isClosed());
        bus.publish(BotEvent.status("BOT-1", "idle"));
        assertEquals(1, bus.lastSeq(), "nothing is published after close");
        assertTrue(bus.awaitAfter(0, Duration.ofMillis(1)).size() == 1);
        assertThrows(IllegalArgumentException.class, () -> new BotEventBus(0));
    }
}
