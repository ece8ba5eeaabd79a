package io.deia.core.webhook;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Webhook;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

// Just over ~400 lines because the delivery rules (due, in flight, delivered, failed, dead, brought
// forward) live on the one thread that owns them; files, HTTP and the lock are classes of their own.
/**
 * Delivers the events of the hive's webhook outbox ({@link WebhookOutbox}) to every configured
 * webhook that wants their type, at least once, and runs in {@code serve}.
 *
 * <p><b>How.</b> One thread owns the deliveries: it learns of new events from a file watch on the
 * outbox and, as a safety net, a listing every {@link DispatcherOptions#rescanEvery()}; it starts
 * each due attempt ({@link WebhookSender}, asynchronous, at most {@link DispatcherOptions#perWebhook()}
 * per webhook, so a slow receiver delays only its own deliveries) and applies each outcome. 2xx is
 * delivered; anything else is a failed attempt, tried again after {@link RetrySchedule#delayAfter}
 * until {@link RetrySchedule#window()} after the event, and a failure after that makes the delivery
 * dead: recorded in {@code hive/webhooks/dead/} and listed by {@link #dead(int)}. A delivery that
 * succeeds brings the other waiting deliveries to that webhook forward: the receiver is back.
 *
 * <p><b>Durability.</b> An event leaves the outbox only when every webhook that wants it has it
 * delivered or dead; attempts, next times and per-webhook outcomes are recorded atomically after
 * each attempt ({@link DeliveryState}), so a restarted {@code serve} continues where the last one
 * stopped. A crash can at worst send an event again (at least once; the receiver drops repeats by
 * {@code X-Deia-Event-Id}). The webhooks are read from the config supplier on every round, so a
 * reload applies; an event no configured webhook wants any more is dropped. Two {@code serve} on
 * one hive do not both deliver: a lock file decides, and the other waits for it.
 */
public final class WebhookDispatcher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WebhookDispatcher.class);
    private static final Runnable WAKE_UP = () -> { };

    private final OutboxStore store;
    private final HiveLayout hive;
    private final Supplier<DeiaConfig> config;
    private final DispatcherOptions options;
    private final WebhookSender sender;
    private final BlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile long pending;
    private volatile long dead;
    private volatile boolean rescan = true;
    private volatile boolean closed;

    // Owned by the dispatcher thread.
    private final TreeMap<String, Pending> events = new TreeMap<>();
    private final Map<String, Integer> inFlight = new HashMap<>();
    private final Set<String> failingHooks = new HashSet<>();
    private List<Hook> lastHooks = List.of();
    private final DispatcherLock lock;

    private Thread loop;
    private Thread watcher;
    private WatchService watch;

    /** A configured webhook with its key (a hash of its URL: computed once per round, not per event). */
    private record Hook(Webhook webhook, String key) {
        boolean wants(String type) {
            return webhook.wants(type);
        }
    }

    /** One event of the outbox and its deliveries so far. */
    private static final class Pending {
        final String stem;
        final WebhookEvent event;
        final byte[] body;
        final Map<String, DeliveryState.HookDelivery> hooks;
        final Set<String> sending = new HashSet<>();

        Pending(String stem, WebhookEvent event, byte[] body, DeliveryState state) {
            this.stem = stem;
            this.event = event;
            this.body = body;
            this.hooks = state == null ? new LinkedHashMap<>() : new LinkedHashMap<>(state.hooks());
        }
    }

    /**
     * @param hive    the hive whose outbox is delivered
     * @param config  the config in force, asked on every round (a reload applies)
     * @param options clock, back-off, timeouts, pool size, where secrets come from
     */
    public WebhookDispatcher(HiveLayout hive, Supplier<DeiaConfig> config, DispatcherOptions options) {
        this.hive = hive;
        this.store = new OutboxStore(hive);
        this.lock = new DispatcherLock(hive.webhookOutboxDir().resolveSibling("dispatcher.lock"));
        this.config = config;
        this.options = options;
        this.sender = new WebhookSender(options.connectTimeout(), options.requestTimeout(), options.threads(),
                options.userAgent(), options.env());
    }

    /**
     * Creates the folders, watches the outbox and starts delivering (events already waiting first).
     *
     * @throws io.deia.core.DeiaException when the folders cannot be created or watched
     */
    public synchronized WebhookDispatcher start() {
        store.open();
        dead = store.countDead();
        try {
            watch = FileSystems.getDefault().newWatchService();
            store.outboxDir().register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY);
        } catch (IOException e) {
            throw io.deia.core.DeiaException.io("cannot watch", store.outboxDir(), e);
        }
        watcher = new Thread(this::watchOutbox, "deia-webhook-watch");
        watcher.setDaemon(true);
        watcher.start();
        loop = new Thread(this::run, "deia-webhooks");
        loop.setDaemon(true);
        loop.start();
        log.info("webhook dispatcher started on {} ({} webhook(s) configured)", hive.root().relativize(store.outboxDir()),
                config.get().webhooks().size());
        return this;
    }

    /** Delivered, failed, pending and dead counts (see {@link WebhookStats}); from any thread. */
    public WebhookStats stats() {
        return new WebhookStats(delivered.get(), failed.get(), pending, dead);
    }

    /** The dead deliveries, newest first, at most {@code limit}. */
    public List<DeadDelivery> dead(int limit) {
        return store.listDead(limit);
    }

    private void watchOutbox() {
        try {
            while (!closed) {
                WatchKey key = watch.take();
                key.pollEvents();
                key.reset();
                rescan = true;
                inbox.offer(WAKE_UP);
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // closed
        }
    }

    private void run() {
        long lastScan = 0;
        while (!closed) {
            try {
                long waitMs = options.rescanEvery().toMillis();
                if (lock.held()) {
                    boolean full = System.nanoTime() - lastScan >= options.rescanEvery().toNanos();
                    if (rescan || full) {
                        rescan = false;
                        if (full) {
                            lastScan = System.nanoTime();
                        }
                        scan(full);
                    }
                    waitMs = Math.min(waitMs, dispatchDue());
                }
                Runnable next = inbox.poll(Math.max(waitMs, 1), TimeUnit.MILLISECONDS);
                while (next != null && !closed) {
                    next.run();
                    next = inbox.poll();
                }
            } catch (InterruptedException e) {
                break;
            } catch (RuntimeException e) {
                log.error("webhook dispatcher round failed; trying again: {}", LogSafe.printable(e.toString()), e);
                sleepQuietly();
            }
        }
    }

    /**
     * Reads the outbox: new events are loaded (with their recorded deliveries), vanished ones
     * dropped; a {@code full} scan (the periodic one) also tidies the delivery states and recounts
     * the dead ones.
     */
    private void scan(boolean full) {
        TreeSet<String> stems = store.listOutbox();
        events.keySet().removeIf(stem -> !stems.contains(stem) && events.get(stem).sending.isEmpty());
        for (String stem : stems) {
            if (events.containsKey(stem)) {
                continue;
            }
            byte[] body;
            WebhookEvent event;
            try {
                body = store.readEvent(stem);
                if (body == null) {
                    continue;
                }
                event = Json.read(new String(body, StandardCharsets.UTF_8), WebhookEvent.class, "webhook event " + stem);
                if (event.id() == null || event.type() == null || event.at() == null) {
                    throw new IllegalArgumentException("id, type or at is missing");
                }
            } catch (IOException | RuntimeException e) {
                store.quarantine(stem, e.getMessage());
                continue;
            }
            events.put(stem, new Pending(stem, event, body, store.readState(stem)));
        }
        if (full) {
            store.removeOrphanStates(stems);
            dead = store.countDead();
        }
    }

    /**
     * Starts every due attempt, ends the events that are done and counts what is pending.
     *
     * @return milliseconds until the next attempt falls due ({@code Long.MAX_VALUE} for none)
     */
    private long dispatchDue() {
        List<Hook> hooks = currentHooks();
        Instant now = options.clock().instant();
        long untilNext = Long.MAX_VALUE;
        long waiting = 0;
        for (Pending p : new ArrayList<>(events.values())) {
            boolean done = true;
            for (Hook hook : hooks) {
                if (!hook.wants(p.event.type())) {
                    continue;
                }
                DeliveryState.HookDelivery d = p.hooks.get(hook.key());
                if (d != null && d.done()) {
                    continue;
                }
                done = false;
                waiting++;
                if (p.sending.contains(hook.key())) {
                    continue;
                }
                Instant due = d == null || d.nextAt() == null ? p.event.at() : d.nextAt();
                if (due.isAfter(now)) {
                    untilNext = Math.min(untilNext, due.toEpochMilli() - now.toEpochMilli());
                } else if (inFlight.getOrDefault(hook.key(), 0) < options.perWebhook()) {
                    attempt(p, hook, d == null ? 0 : d.attempts());
                }
            }
            if (done && p.sending.isEmpty()) {
                store.finish(p.stem);
                events.remove(p.stem);
                if (p.hooks.isEmpty()) {
                    log.info("[{}] webhook event {} {} dropped: no configured webhook wants it any more",
                            botOf(p), p.event.type(), p.event.id());
                }
            }
        }
        pending = waiting;
        return untilNext;
    }

    private List<Hook> currentHooks() {
        try {
            List<Webhook> configured = config.get().webhooks();
            if (lastHooks.size() == configured.size() && sameHooks(configured)) {
                return lastHooks;
            }
            Map<String, Hook> byKey = new LinkedHashMap<>();
            for (Webhook w : configured) {
                byKey.putIfAbsent(w.key(), new Hook(w, w.key()));
            }
            lastHooks = List.copyOf(byKey.values());
        } catch (RuntimeException e) {
            log.warn("cannot read the webhooks of the config, keeping the last ones: {}", LogSafe.printable(e.toString()));
        }
        return lastHooks;
    }

    private boolean sameHooks(List<Webhook> configured) {
        for (int i = 0; i < configured.size(); i++) {
            if (!configured.get(i).equals(lastHooks.get(i).webhook())) {
                return false;
            }
        }
        return true;
    }

    private void attempt(Pending p, Hook hook, int attemptsSoFar) {
        String key = hook.key();
        p.sending.add(key);
        inFlight.merge(key, 1, Integer::sum);
        sender.send(hook.webhook(), p.event.id(), p.body).thenAccept(outcome ->
                inbox.offer(() -> finished(p, hook, attemptsSoFar + 1, outcome)));
    }

    /** An attempt ended (on the dispatcher thread): record it. */
    private void finished(Pending p, Hook h, int attempt, WebhookSender.Attempt outcome) {
        String key = h.key();
        Webhook hook = h.webhook();
        p.sending.remove(key);
        inFlight.merge(key, -1, Integer::sum);
        Instant now = options.clock().instant();
        String url = WebhookSender.safeUrl(hook.url());
        if (outcome.delivered()) {
            delivered.incrementAndGet();
            p.hooks.put(key, new DeliveryState.HookDelivery(hook.url(), attempt, null, null, now, null));
            log.info("[{}] webhook event {} {} delivered to {} (HTTP {}, attempt {})", botOf(p), p.event.type(),
                    p.event.id(), url, outcome.status(), attempt);
            if (failingHooks.remove(key)) {
                log.info("webhook {} answers again; its waiting deliveries are sent now", url);
                bringForward(key, now);
            }
        } else {
            failed.incrementAndGet();
            if (!now.isBefore(p.event.at().plus(options.retry().window()))) {
                DeadDelivery d = new DeadDelivery(p.event.id(), p.event.type(), p.event.botId(), hook.url(), attempt,
                        outcome.error(), p.event.at(), now);
                store.writeDead(p.stem, key, d, p.body);
                dead++;
                p.hooks.put(key, new DeliveryState.HookDelivery(hook.url(), attempt, null, outcome.error(), null, now));
                log.error("[{}] webhook event {} {} to {} is dead after {} attempt(s) in {}: {}", botOf(p), p.event.type(),
                        p.event.id(), url, attempt, options.retry().window(), outcome.error());
            } else {
                Instant next = now.plus(options.retry().delayAfter(attempt));
                p.hooks.put(key, new DeliveryState.HookDelivery(hook.url(), attempt, next, outcome.error(), null, null));
                if (failingHooks.add(key)) {
                    log.warn("[{}] webhook event {} {} to {} failed (attempt {}): {}; retrying with back-off",
                            botOf(p), p.event.type(), p.event.id(), url, attempt, outcome.error());
                } else {
                    log.debug("[{}] webhook event {} to {} failed again (attempt {}): {}", botOf(p), p.event.id(), url,
                            attempt, outcome.error());
                }
            }
        }
        if (events.get(p.stem) == p && !allDone(p)) {
            try {
                store.writeState(p.stem, new DeliveryState(p.event.id(), p.hooks));
            } catch (RuntimeException e) {
                log.warn("[{}] cannot record the deliveries of webhook event {}: {}", botOf(p), p.event.id(),
                        LogSafe.printable(e.getMessage()));
            }
        }
    }

    /** True when every configured webhook that wants the event has it delivered or dead. */
    private boolean allDone(Pending p) {
        for (Hook hook : lastHooks) {
            DeliveryState.HookDelivery d = p.hooks.get(hook.key());
            if (hook.wants(p.event.type()) && (d == null || !d.done())) {
                return false;
            }
        }
        return true;
    }

    /** A webhook answers again: its deliveries waiting for their back-off are due now (in memory only). */
    private void bringForward(String key, Instant now) {
        for (Pending p : events.values()) {
            DeliveryState.HookDelivery d = p.hooks.get(key);
            if (d != null && !d.done() && d.nextAt() != null && d.nextAt().isAfter(now)) {
                p.hooks.put(key, new DeliveryState.HookDelivery(d.url(), d.attempts(), now, d.lastError(), null, null));
            }
        }
    }

    private static String botOf(Pending p) {
        return LogSafe.printable(String.valueOf(p.event.botId()), 80);
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops delivering: attempts in flight are abandoned (their events stay in the outbox and are
     * sent again by the next start), the lock is released.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        inbox.offer(WAKE_UP);
        try {
            if (watch != null) {
                watch.close();
            }
        } catch (IOException e) {
            log.debug("closing the outbox watch: {}", e.toString());
        }
        joinQuietly(loop);
        joinQuietly(watcher);
        sender.close();
        lock.close();
        log.info("webhook dispatcher stopped ({})", stats());
    }

    private static void joinQuietly(Thread t) {
        if (t == null) {
            return;
        }
        try {
            t.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
