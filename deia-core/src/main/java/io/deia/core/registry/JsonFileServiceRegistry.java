package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * The embedded {@link ServiceRegistry}: one JSON file, {@link HiveLayout#registryFile()}, shared by
 * every process of the hive.
 *
 * <p><b>Concurrency.</b> Every change is a complete read-modify-write done while holding an OS file
 * lock on {@link HiveLayout#registryLockFile()} (plus an in-JVM lock, see {@link RegistryLock}), and
 * the file is replaced by an atomic, durable rename. So no update is lost, whichever process or
 * thread makes it, and {@link #get}/{@link #list} read without the lock: they always see one whole
 * version of the file.
 *
 * <p><b>File.</b> {@code {"version":1,"updated_at":…,"bots":{"BOT-001":{…}}}}; each entry is a
 * {@link BotRecord} in snake_case plus {@code status} (a copy of {@code state} for readers of the
 * original DEIA registry). {@link BotRecord#url()} is not stored: it is derived from host and port.
 * {@link #heartbeat} also writes {@link HiveLayout#heartbeatFile(String)}, which doubles as the
 * source for rebuilding a registry file that was damaged beyond reading: under the lock, after the
 * durable registry write, atomically; with fsync only when it is new or more than state and
 * heartbeat time changed (see {@link RegistryFile#writeHeartbeat} for why).
 *
 * <p><b>Damage.</b> A corrupt or truncated file is reported (error log), renamed aside as
 * {@code registry.json.corrupt-<timestamp>}, and rebuilt from every entry that could still be read,
 * with entries it lost filled in from the heartbeat files. Callers never see the failure.
 *
 * <p><b>Staleness</b> is decided only in {@link #reapStale()}, which the launcher or controller call
 * when they need a current view; the registry runs no timer of its own, so it never races a bot
 * that is merely slow.
 */
public final class JsonFileServiceRegistry implements ServiceRegistry {
    /**
     * How long a port reservation ({@link BotState#STARTING}, pid 0) is honoured before
     * {@link #reapStale()} frees it: several times a launch's {@code /health} wait (20 s by default).
     */
    public static final Duration RESERVATION_TTL = Duration.ofSeconds(60);

    private static final Logger log = LoggerFactory.getLogger(JsonFileServiceRegistry.class);

    private final HiveLayout hive;
    private final DeiaConfig config;
    private final RegistryFile file;
    /** Whether this instance removed dead writers' temp files yet (once, on its first change). Guarded by the lock. */
    private boolean tempFilesCleaned;

    /**
     * A registry on {@code hive}'s registry file (created on the first change).
     *
     * @param config supplies the port range and the heartbeat TTL
     */
    public JsonFileServiceRegistry(HiveLayout hive, DeiaConfig config) {
        this.hive = HiveGuard.check(Objects.requireNonNull(hive, "hive"));
        this.config = Objects.requireNonNull(config, "config");
        this.file = new RegistryFile(hive);
    }

    /** The registry file this instance reads and writes. */
    public Path file() {
        return file.path();
    }

    @Override
    public BotRecord register(BotRecord record) {
        Objects.requireNonNull(record, "record");
        String botId = record.botId();
        Instant now = now();
        Instant start = record.processStart();
        if (record.pid() > 0 && start == null) {
            // Without its start instant a pid cannot be told apart from a later process reusing it.
            start = ProcessTrees.startInstant(record.pid()).orElse(null);
        }
        BotRecord toStore = inFilePrecision(record.toBuilder()
                .processStart(start)
                .registeredAt(record.registeredAt() == null ? now : record.registeredAt())
                .lastHeartbeat(record.lastHeartbeat() == null ? now : record.lastHeartbeat())
                .build());
        return mutate(bots -> {
            BotRecord existing = bots.get(botId);
            if (existing != null && !sameProcess(existing, toStore)) {
                if (isAlive(existing)) {
                    throw DeiaException.conflict("bot %s is already registered by a running process (pid %d, port %d)",
                            botId, existing.pid(), existing.port());
                }
                if (existing.pid() > 0) {
                    log.warn("[{}] taking over stale entry of pid {} (state {}): that process is gone or its pid was reused",
                            botId, existing.pid(), existing.state().id());
                }
            }
            bots.put(botId, toStore);
            log.info("[{}] registered pid {} on port {} as {}", botId, toStore.pid(), toStore.port(), toStore.state().id());
            return toStore;
        });
    }

    @Override
    public BotRecord reserve(String botId, String profile, String agent, String project) {
        BotIds.requireValid(botId);
        return mutate(bots -> {
            Instant now = now();
            BotRecord existing = bots.get(botId);
            if (existing != null) {
                if (isAlive(existing)) {
                    throw DeiaException.conflict("bot %s is already running (pid %d, port %d)", botId, existing.pid(),
                            existing.port());
                }
                if (isReservation(existing)) {
                    boolean launcherGone = existing.launcherGone();
                    if (!launcherGone && !reservationExpired(existing, now)) {
                        throw DeiaException.conflict("bot %s is already being launched (port %d reserved at %s by pid %d)",
                                botId, existing.port(), existing.registeredAt(), existing.launcherPid());
                    }
                    log.warn("[{}] taking over the port reservation of launcher pid {}: {}", botId,
                            existing.launcherPid(), launcherGone ? "that launcher is gone" : "it expired");
                }
            }
            Set<Integer> held = new HashSet<>();
            bots.forEach((id, r) -> {
                if (!id.equals(botId) && holdsPort(r)) {
                    held.add(r.port());
                }
            });
            int port = PortAllocator.allocate(botId, config.ports(), held, existing == null ? 0 : existing.port());
            BotRecord reserved = BotRecord.builder(botId)
                    .port(port)
                    .state(BotState.STARTING)
                    .profile(profile)
                    .agent(agent)
                    .project(project)
                    .registeredAt(now)
                    .lastHeartbeat(now)
                    // The supervisor's restart count belongs to the bot, not to one process of it.
                    .restarts(existing == null ? 0 : existing.restarts())
                    .launcherIsThisProcess()
                    // Only launches and restarts reserve: from now on the bot is wanted running.
                    .wanted(true)
                    .build();
            bots.put(botId, reserved);
            log.info("[{}] reserved port {} (profile {}{})", botId, port, profile,
                    project == null ? "" : ", project " + project);
            return reserved;
        });
    }

    @Override
    public boolean deregister(String botId) {
        BotIds.requireValid(botId);
        return mutate(bots -> {
            BotRecord removed = bots.remove(botId);
            if (removed == null) {
                return false;
            }
            log.info("[{}] deregistered (pid {}, port {}, was {})", botId, removed.pid(), removed.port(), removed.state().id());
            return true;
        }, removed -> {
            // After the durable write, so a failed write keeps the file.
            if (removed) {
                file.deleteHeartbeat(botId);
            }
        });
    }

    @Override
    public Optional<BotRecord> update(String botId, UnaryOperator<BotRecord> change) {
        BotIds.requireValid(botId);
        Objects.requireNonNull(change, "change");
        return mutate(bots -> {
            BotRecord existing = bots.get(botId);
            if (existing == null) {
                return Optional.empty();
            }
            BotRecord changed = inFilePrecision(Objects.requireNonNull(change.apply(existing), "the change returned null"));
            if (!changed.botId().equals(botId)) {
                throw DeiaException.invalid("an update of %s cannot change the bot id to %s", botId, changed.botId());
            }
            bots.put(botId, changed);
            logStateChange(existing, changed);
            return Optional.of(changed);
        });
    }

    @Override
    public Optional<BotRecord> heartbeat(String botId, BotState state) {
        BotIds.requireValid(botId);
        Objects.requireNonNull(state, "state");
        return mutate(bots -> {
            BotRecord existing = bots.get(botId);
            if (existing == null) {
                log.debug("[{}] heartbeat ignored: not registered", botId);
                return Optional.<BotRecord>empty();
            }
            BotRecord beat = existing.toBuilder().state(state).lastHeartbeat(now()).build();
            bots.put(botId, beat);
            logStateChange(existing, beat);
            return Optional.of(beat);
        }, beat -> {
            // Under the lock, after the durable registry write: a deregister cannot slip in between
            // and have its deletion undone by this write.
            beat.ifPresent(file::writeHeartbeat);
        });
    }

    @Override
    public Optional<BotRecord> get(String botId) {
        BotIds.requireValid(botId);
        return Optional.ofNullable(readConsistent().get(botId));
    }

    @Override
    public List<BotRecord> list() {
        return List.copyOf(readConsistent().values());
    }

    @Override
    public List<BotRecord> reapStale() {
        return mutate(bots -> {
            Instant now = now();
            List<BotRecord> reaped = new ArrayList<>();
            for (BotRecord r : List.copyOf(bots.values())) {
                String reason = staleReason(r, now);
                if (reason != null && (r.wanted() || holdsTasks(r.botId()))) {
                    // A wanted bot is brought back by a controller's reconcile, not forgotten; work
                    // in its inbox or claims would otherwise be stranded with no bot to show for it.
                    log.debug("[{}] kept although {}: {}", r.botId(), reason, r.wanted() ? "it is wanted running"
                            : "its inbox or claims hold tasks");
                } else if (reason != null) {
                    bots.remove(r.botId());
                    log.warn("[{}] removed stale entry (pid {}, port {}, was {}): {}", r.botId(), r.pid(), r.port(),
                            r.state().id(), reason);
                    reaped.add(r.toBuilder().state(BotState.STALE).lastError(reason).build());
                }
            }
            return List.copyOf(reaped);
        }, reaped -> reaped.forEach(r -> file.deleteHeartbeat(r.botId())));
    }

    /** Why {@code r} is stale, or null when it is not. */
    private String staleReason(BotRecord r, Instant now) {
        if (r.pid() > 0 && (r.state().isLive() || r.state() == BotState.RESTARTING)) {
            Optional<Instant> actual = ProcessTrees.startInstant(r.pid());
            if (actual.isEmpty()) {
                return "process " + r.pid() + " is gone";
            }
            if (r.processStart() != null && !millis(actual.get()).equals(millis(r.processStart()))) {
                return "pid " + r.pid() + " now belongs to another process (started " + actual.get()
                        + ", recorded " + r.processStart() + ")";
            }
            Instant last = r.lastHeartbeat() != null ? r.lastHeartbeat() : r.registeredAt();
            Duration ttl = Duration.ofSeconds(config.heartbeatTtlS());
            if (last != null && last.plus(ttl).isBefore(now)) {
                return "no heartbeat for " + Duration.between(last, now).toSeconds() + " s (ttl " + ttl.toSeconds() + " s)";
            }
            return null;
        }
        if (isReservation(r) && r.launcherGone()) {
            return "its launcher (pid " + r.launcherPid() + ") exited before the runner started";
        }
        if (isReservation(r) && reservationExpired(r, now)) {
            return "port reservation not taken up by a process within " + RESERVATION_TTL.toSeconds() + " s";
        }
        return null;
    }

    /** True when the bot's inbox or claimed folder holds a file (a task waiting or under way). */
    private boolean holdsTasks(String botId) {
        for (Path dir : List.of(hive.inboxDir(botId), hive.claimedDir(botId))) {
            try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(dir)) {
                if (files.findAny().isPresent()) {
                    return true;
                }
            } catch (java.nio.file.NoSuchFileException e) {
                // no folder, no task
            } catch (java.io.IOException e) {
                log.warn("[{}] cannot look into {}: {}; keeping the entry", botId, dir, e.toString());
                return true;
            }
        }
        return false;
    }

    /** The file keeps milliseconds; values handed back are cut to that, so they equal a later read. */
    private static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }

    private static BotRecord inFilePrecision(BotRecord r) {
        return r.toBuilder().processStart(millis(r.processStart())).registeredAt(millis(r.registeredAt()))
                .lastHeartbeat(millis(r.lastHeartbeat())).launcherStart(millis(r.launcherStart())).build();
    }

    private static Instant millis(Instant i) {
        return i == null ? null : i.truncatedTo(ChronoUnit.MILLIS);
    }

    private static boolean isReservation(BotRecord r) {
        return r.pid() == 0 && r.state() == BotState.STARTING;
    }

    private static boolean reservationExpired(BotRecord r, Instant now) {
        Instant since = r.registeredAt() != null ? r.registeredAt() : r.lastHeartbeat();
        return since != null && since.plus(RESERVATION_TTL).isBefore(now);
    }

    /** Entries that are over for good free their port; every other one keeps it until reaped. */
    private static boolean holdsPort(BotRecord r) {
        return r.port() > 0 && r.state() != BotState.STOPPED && r.state() != BotState.FAILED && r.state() != BotState.STALE;
    }

    private static boolean isAlive(BotRecord r) {
        return r.pid() > 0 && ProcessTrees.isSameProcessAlive(r.pid(), r.processStart());
    }

    /** Same pid, and the same start instant where both sides know it: a re-register by the same process. */
    private static boolean sameProcess(BotRecord a, BotRecord b) {
        return a.pid() > 0 && a.pid() == b.pid()
                && (a.processStart() == null || b.processStart() == null || millis(a.processStart()).equals(millis(b.processStart())));
    }

    private static void logStateChange(BotRecord before, BotRecord after) {
        if (before.state() != after.state()) {
            log.info("[{}] state {} -> {}", after.botId(), before.state().id(), after.state().id());
        } else {
            log.debug("[{}] updated (state {})", after.botId(), after.state().id());
        }
    }

    /**
     * Reads without the lock (writers rename whole files in); only a damaged file sends the reader
     * through the locked repair.
     */
    private SortedMap<String, BotRecord> readConsistent() {
        RegistryFile.Contents contents = file.read();
        return contents.damaged() ? RegistryLock.withLock(hive.registryLockFile(), file::readForUpdate) : contents.bots();
    }

    private <T> T mutate(Function<SortedMap<String, BotRecord>, T> change) {
        return mutate(change, result -> { });
    }

    /**
     * The read-modify-write every change goes through: under the lock, load (repairing a damaged
     * file first), apply {@code change} to the entries, write the file back, durably, when they
     * changed, then run {@code afterWrite} with the change's result, still under the lock. An
     * exception from {@code change} leaves the file as it was.
     */
    private <T> T mutate(Function<SortedMap<String, BotRecord>, T> change, Consumer<T> afterWrite) {
        return RegistryLock.withLock(hive.registryLockFile(), () -> {
            if (!tempFilesCleaned) {
                cleanTempFiles();
            }
            SortedMap<String, BotRecord> bots = file.readForUpdate();
            Map<String, BotRecord> before = Map.copyOf(bots);
            T result = change.apply(bots);
            if (!before.equals(bots)) {
                file.write(bots);
            }
            afterWrite.accept(result);
            return result;
        });
    }

    /** Removes temp files of registry writers that died mid-write. Lock held. */
    private void cleanTempFiles() {
        try {
            int removed = file.cleanTempFiles();
            if (removed > 0) {
                log.warn("removed {} temp file(s) left by an interrupted registry or heartbeat write in {}", removed,
                        hive.hiveDir());
            }
        } catch (DeiaException e) {
            log.warn("cannot clean registry temp files: {}", e.getMessage());
        }
        tempFilesCleaned = true;
    }
}
