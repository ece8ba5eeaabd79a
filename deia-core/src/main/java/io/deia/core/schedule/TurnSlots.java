package io.deia.core.schedule;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.HiveSettings;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileLockInterruptionException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * One bot's side of the hive's turn limits ({@code max_concurrent_turns} and its profile's
 * {@code max_concurrent}, read from the settings in force before every turn, so a reload applies to
 * the next turn): {@link #acquire} takes the slots a turn needs, or waits in the hive's line for them.
 *
 * <p>Without a limit nothing is touched: the lease is {@link SlotLease#NONE}. With one, the runner
 * looks at the line under the line lock: it takes its slots at once when the slots free now would
 * reach it in line order (the waiters ahead of it served first; a waiter whose own profile is full
 * takes none and holds nobody back), else it enters the line and waits, woken by the slots folder's
 * file events (a release touches a marker, an entry leaving deletes its file) and every
 * {@value #RECHECK_MS} ms regardless (a holder killed with -9 makes no event; the kernel frees its
 * slot all the same).
 *
 * <p>One turn of the bot at a time asks (its turns are serialized), so this object holds that
 * turn's place in line.
 */
public final class TurnSlots {
    private static final Logger log = LoggerFactory.getLogger(TurnSlots.class);
    /** How often a waiter looks at the line without an event. */
    static final long RECHECK_MS = 1000;

    private final SlotFiles files;
    private final WaitingLine line;
    private final String botId;
    private final String profile;
    private final Supplier<HiveSettings> settings;
    /** This bot's place in line while it waits, else null. */
    private volatile Integer position;
    /** This bot's entry while it waits; only the turn's thread touches it. */
    private HeldFile entry;

    /**
     * @param hive     the hive whose slots are shared
     * @param botId    the bot taking turns
     * @param profile  its profile's name
     * @param settings the settings in force (usually a {@link io.deia.core.config.HiveSettingsFile}), asked before every turn
     */
    public TurnSlots(HiveLayout hive, String botId, String profile, Supplier<HiveSettings> settings) {
        this.files = new SlotFiles(hive);
        this.line = new WaitingLine(files);
        this.botId = Objects.requireNonNull(botId, "botId");
        this.profile = Objects.requireNonNull(profile, "profile");
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    /** The bot's 1-based place in the hive's line while its next turn waits for a slot, else null. */
    public Integer queuePosition() {
        return position;
    }

    /**
     * Takes the slots the next turn needs, waiting in line when the limits are reached.
     *
     * @param order        the turn's place in line
     * @param taskId       the task whose turn it is, or null for a chat message
     * @param cancelled    asked at every wake-up: true ends the wait (the bot stops)
     * @param onQueued     called once when the bot enters the line ({@link #queuePosition()} is set); when this
     *                     method returns the bot has left it (the caller refreshes its state then)
     * @return the lease to close when the turn ends, or null when {@code cancelled} ended the wait
     * @throws InterruptedException when the thread is interrupted while waiting (the bot stops)
     * @throws DeiaException        {@code INTERNAL} when the slots folder cannot be used
     */
    public SlotLease acquire(TurnOrder order, String taskId, BooleanSupplier cancelled, Runnable onQueued)
            throws InterruptedException {
        HiveSettings now = settings.get();
        if (unlimited(now)) {
            return SlotLease.NONE;
        }
        files.ensureDirs();
        WaitingEntry me = WaitingEntry.of(botId, profile, order, taskId);
        long started = System.nanoTime();
        WatchService watch = null;
        try {
            SlotLease lease = tryTake(me, now, false);
            if (lease != null) {
                return lease;
            }
            watch = openWatch();
            boolean announced = false;
            while (lease == null) {
                if (cancelled.getAsBoolean()) {
                    log.info("[{}] left the line for a turn slot: the bot stops", botId);
                    return null;
                }
                now = settings.get();
                lease = unlimited(now) ? SlotLease.NONE : tryTake(me, now, true);
                if (lease == null && !announced) {
                    announced = true;
                    onQueued.run();
                }
                if (lease == null) {
                    await(watch);
                }
            }
            if (announced) {
                log.info("[{}] turn slot {} taken after {} ms in line", botId, lease,
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
            }
            return lease;
        } catch (ClosedByInterruptException | FileLockInterruptionException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedException("interrupted while taking a turn slot");
        } catch (IOException e) {
            throw DeiaException.internal("[" + botId + "] cannot use the turn slots in " + files.dir + ": " + e.getMessage(), e);
        } finally {
            leaveLine();
            if (watch != null) {
                try {
                    watch.close();
                } catch (IOException e) {
                    // closing a watch service has nothing to report
                }
            }
        }
    }

    private boolean unlimited(HiveSettings s) {
        return s.maxConcurrentTurns() == null && s.profile(profile).maxConcurrent() == null;
    }

    /**
     * Under the line lock: takes the slots when the line admits this bot; else, with {@code enter},
     * puts it in line (or keeps it there) and updates its place.
     */
    private SlotLease tryTake(WaitingEntry me, HiveSettings s, boolean enter) throws IOException, InterruptedException {
        return files.underLineLock(() -> {
            List<WaitingEntry> waiting = new ArrayList<>();
            for (WaitingEntry e : line.read(true)) {
                if (!e.botId().equals(botId)) {
                    waiting.add(e);
                }
            }
            waiting.add(me);
            waiting.sort(WaitingEntry.ORDER);
            SlotFiles.Held held = files.held();
            SlotLease lease = admits(me, waiting, held, s) ? take(s, me.taskId()) : null;
            if (lease != null) {
                // Out of line in the same step, so nobody counts this bot both waiting and holding.
                leaveLine();
                return lease;
            }
            int place = waiting.indexOf(me) + 1;
            if (enter) {
                if (entry == null) {
                    entry = line.enter(me);
                    log.info("[{}] queued for a turn slot: place {} in line (hive limit {}, profile {} limit {}, slots held {}/{})",
                            botId, place, s.maxConcurrentTurns(), profile, s.profile(profile).maxConcurrent(),
                            held.hive(), held.profile(SlotFiles.profileKey(profile)));
                    position = place;
                    return null;
                }
                if (!Objects.equals(position, place)) {
                    log.debug("[{}] place {} in line for a turn slot", botId, place);
                }
                position = place;
            }
            return null;
        });
    }

    /**
     * Serves the line in order with the slots free now: each waiter takes a hive slot and a slot of its
     * profile; one whose profile has none free is passed over (it holds nobody back); when the hive
     * has none left, nobody further is served. True when {@code me} is served.
     */
    static boolean admits(WaitingEntry me, List<WaitingEntry> line, SlotFiles.Held held, HiveSettings s) {
        Integer hiveLimit = s.maxConcurrentTurns();
        int hiveFree = hiveLimit == null ? Integer.MAX_VALUE : hiveLimit - held.hive();
        Map<String, Integer> profileFree = new HashMap<>();
        for (WaitingEntry e : line) {
            Integer limit = s.profile(e.profile()).maxConcurrent();
            int free = limit == null ? Integer.MAX_VALUE
                    : profileFree.computeIfAbsent(e.profile(), p -> limit - held.profile(SlotFiles.profileKey(p)));
            if (free <= 0) {
                continue;
            }
            if (hiveFree <= 0) {
                return false;
            }
            hiveFree--;
            if (limit != null) {
                profileFree.put(e.profile(), free - 1);
            }
            if (e == me) {
                return true;
            }
        }
        return false;
    }

    /** Takes a hive slot and a profile slot as the limits require; null when one is not free after all. */
    private SlotLease take(HiveSettings s, String taskId) throws IOException {
        Map<String, Object> holder = new LinkedHashMap<>();
        holder.put("bot_id", botId);
        holder.put("profile", profile);
        if (taskId != null) {
            holder.put("task_id", taskId);
        }
        holder.put("since", Json.formatInstant(Instant.now()));
        holder.put("pid", ProcessHandle.current().pid());
        String content = Json.write(holder) + "\n";
        Integer hiveLimit = s.maxConcurrentTurns();
        Integer profileLimit = s.profile(profile).maxConcurrent();
        HeldFile hiveSlot = hiveLimit == null ? null : files.takeHiveSlot(hiveLimit, content);
        if (hiveLimit != null && hiveSlot == null) {
            return null;
        }
        HeldFile profileSlot = profileLimit == null ? null : files.takeProfileSlot(profile, profileLimit, content);
        if (profileLimit != null && profileSlot == null) {
            if (hiveSlot != null) {
                hiveSlot.release(false);
            }
            return null;
        }
        return new SlotLease(files, hiveSlot, profileSlot);
    }

    private void leaveLine() {
        if (entry != null) {
            entry.release(true);
            entry = null;
        }
        position = null;
    }

    /** A watch on the slots folder and the line; null when the system has none to give (the recheck still runs). */
    private WatchService openWatch() {
        try {
            WatchService watch = FileSystems.getDefault().newWatchService();
            for (Path dir : List.of(files.dir, files.waitingDir)) {
                dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                        StandardWatchEventKinds.ENTRY_MODIFY);
            }
            return watch;
        } catch (IOException e) {
            log.warn("[{}] cannot watch {} ({}): looking at the line every {} ms instead", botId, files.dir,
                    e.getMessage(), RECHECK_MS);
            return null;
        }
    }

    /** Waits for a file event in the slots folder or the recheck period, whichever comes first. */
    private static void await(WatchService watch) throws InterruptedException {
        if (watch == null) {
            Thread.sleep(RECHECK_MS);
            return;
        }
        WatchKey key = watch.poll(RECHECK_MS, TimeUnit.MILLISECONDS);
        while (key != null) {
            key.pollEvents();
            key.reset();
            key = watch.poll();
        }
    }
}
