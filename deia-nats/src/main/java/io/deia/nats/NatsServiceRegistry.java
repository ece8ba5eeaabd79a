package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.registry.PortAllocator;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The multi-host {@link ServiceRegistry}: one entry per bot in the JetStream KV bucket
 * {@code deia-H-bots} (H = {@code backend.name}), key = bot id, value = the {@link BotRecord} as
 * snake_case JSON (as in {@code registry.json}). Every node, runner and controller of the hive reads
 * and writes the same bucket.
 *
 * <p><b>Concurrency.</b> Every change reads the entry, decides, and writes with compare-and-set on
 * the bucket's last sequence as it was before the read (so the write fails if anything was written
 * since); when another writer came first it reads and decides again. So no update is lost,
 * whichever process or machine makes it. (Not the per-key revision check of KV's own
 * {@code update}: a 2.9 cluster lets two concurrent updates of one key both pass it, see
 * {@code RegistryBucket}.) A write whose answer was lost is sent again with the same message id
 * and stored once.
 *
 * <p><b>Liveness.</b> The bucket's TTL (max age) is {@code heartbeat_ttl_s}: an entry disappears
 * about that long after its last write, so a bot whose runner stopped beating (a machine that died)
 * vanishes without anyone reaping it. A 2.9 server emits no watch event when an entry expires:
 * readers see it gone, watchers are not told. Unlike the file registry, entries nobody writes do
 * not stay: a stopped or failed bot's entry, or a reservation not taken up, expires after the TTL
 * too (whoever wants them kept, such as a node supervising its bots, writes them again).
 *
 * <p><b>Nodes.</b> A pid or a port means something only on its machine. Each instance knows its own
 * {@code node}: {@link #register} stamps entries without a node with it, and {@link #reserve}
 * records it. Whether an entry's process is alive is checked on the process table for entries of
 * this node, and by the age of the last heartbeat for entries of other nodes.
 *
 * <p><b>Ports</b> are per node: {@link #reserve} picks one that no entry of the same node holds and
 * that a real bind accepts, claiming it first in the node's {@link PortClaims} (compare-and-set on
 * one key per node) and then writing the bot's entry with compare-and-set, so two launchers on one
 * node never get the same port.
 */
public final class NatsServiceRegistry implements ServiceRegistry {
    /** How long a port reservation is honoured: as in the file registry (the bucket TTL may end it sooner). */
    public static final Duration RESERVATION_TTL = JsonFileServiceRegistry.RESERVATION_TTL;

    private static final Logger log = LoggerFactory.getLogger(NatsServiceRegistry.class);
    private static final Pattern NODE = Pattern.compile(BotRecord.NODE_PATTERN);

    private final RegistryBucket bucket;
    private final DeiaConfig config;
    private final String node;
    private final Duration ttl;

    /**
     * A registry on {@code hive}'s bucket, created or bound here (see {@link #ensureBucket}).
     *
     * @param config supplies the port range and {@code heartbeat_ttl_s} (the bucket's TTL)
     * @param node   the name of the machine this process runs on ({@link BotRecord#NODE_PATTERN})
     */
    public NatsServiceRegistry(NatsHive hive, DeiaConfig config, String node) {
        this.config = Objects.requireNonNull(config, "config");
        if (node == null || !NODE.matcher(node).matches()) {
            throw DeiaException.invalid("node name '%s' is invalid; expected %s", node, BotRecord.NODE_PATTERN);
        }
        this.node = node;
        this.ttl = Duration.ofSeconds(config.heartbeatTtlS());
        this.bucket = RegistryBucket.ensure(Objects.requireNonNull(hive, "hive"), bucketName(hive.name()), ttl);
    }

    /** The registry bucket's name for hive {@code hiveName}: {@code deia-<hiveName>-bots}. */
    public static String bucketName(String hiveName) {
        return "deia-" + hiveName + "-bots";
    }

    /**
     * Creates the registry bucket of {@code hive} (file storage, history 1, min(3, cluster size)
     * replicas, TTL {@code ttl}) or binds the existing one, changing its TTL when it differs.
     * Idempotent: every process of the hive may call it at start.
     */
    public static void ensureBucket(NatsHive hive, Duration ttl) {
        RegistryBucket.ensure(hive, bucketName(hive.name()), ttl);
    }

    /** The node this instance runs on. */
    public String node() {
        return node;
    }

    @Override
    public BotRecord register(BotRecord record) {
        Objects.requireNonNull(record, "record");
        String botId = record.botId();
        Instant now = now();
        String on = record.node() == null ? node : record.node();
        Instant start = record.processStart();
        if (record.pid() > 0 && start == null && on.equals(node)) {
            // Without its start instant a pid cannot be told apart from a later process reusing it.
            start = ProcessTrees.startInstant(record.pid()).orElse(null);
        }
        BotRecord toStore = precise(record.toBuilder().node(on).processStart(start)
                .registeredAt(record.registeredAt() == null ? now : record.registeredAt())
                .lastHeartbeat(record.lastHeartbeat() == null ? now : record.lastHeartbeat()).build());
        return change(botId, existing -> {
            if (existing != null && !sameProcess(existing, toStore)) {
                if (isAlive(existing, now())) {
                    throw DeiaException.conflict("bot %s is already registered by a running process (pid %d on node %s, "
                            + "port %d)", botId, existing.pid(), existing.node(), existing.port());
                }
                if (existing.pid() > 0) {
                    log.warn("[{}] taking over stale entry of pid {} on node {} (state {})", botId, existing.pid(),
                            existing.node(), existing.state().id());
                }
            }
            return Change.put(toStore, toStore);
        }, stored -> log.info("[{}] registered pid {} on node {} port {} as {}", botId, stored.pid(), stored.node(),
                stored.port(), stored.state().id()));
    }

    @Override
    public BotRecord reserve(String botId, String profile, String agent, String project) {
        BotIds.requireValid(botId);
        while (true) {
            Instant now = now();
            RegistryBucket.Entry entry = bucket.read(botId);
            BotRecord existing = entry == null ? null : entry.record();
            if (existing != null) {
                refuseReservation(existing, now);
            }
            Set<Integer> held = new HashSet<>();
            Map<String, BotRecord> entries = new HashMap<>();
            for (BotRecord r : bucket.records()) {
                entries.put(r.botId(), r);
                if (!r.botId().equals(botId) && holdsPort(r) && (r.node() == null || r.node().equals(node))) {
                    held.add(r.port());
                }
            }
            String claimsKey = PortClaims.key(node);
            RegistryBucket.Entry claimsEntry = bucket.read(claimsKey);
            PortClaims claims = PortClaims.parse(claimsEntry == null ? null : claimsEntry.value());
            held.addAll(claims.heldByOthers(botId, now, RESERVATION_TTL, entries));
            int preferred = existing != null && node.equals(existing.node()) ? existing.port() : 0;
            int port = PortAllocator.allocate(botId, config.ports(), held, preferred);
            long claimed = bucket.compareAndSet(claimsKey, claimsEntry,
                    RegistryBucket.bytes(claims.with(port, botId, now, RESERVATION_TTL)));
            if (claimed < 0) {
                continue; // another write came first (perhaps a reservation on this node, with its port claimed)
            }
            BotRecord reserved = BotRecord.builder(botId).port(port).state(BotState.STARTING).profile(profile)
                    .agent(agent).project(project).node(node).registeredAt(now).lastHeartbeat(now)
                    // The supervisor's restart count belongs to the bot, not to one process of it.
                    .restarts(existing == null ? 0 : existing.restarts())
                    .launcherIsThisProcess().wanted(true).build();
            // Expects the claim's own sequence: the entry read before it is still current if nothing came since.
            if (bucket.compareAndSet(botId, entry.at(claimed), RegistryBucket.bytes(reserved)) >= 0) {
                log.info("[{}] reserved port {} on node {} (profile {}{})", botId, port, node, profile,
                        project == null ? "" : ", project " + project);
                return reserved;
            }
        }
    }

    private void refuseReservation(BotRecord existing, Instant now) {
        String botId = existing.botId();
        if (isAlive(existing, now)) {
            throw DeiaException.conflict("bot %s is already running (pid %d on node %s, port %d)", botId, existing.pid(),
                    existing.node(), existing.port());
        }
        if (isReservation(existing)) {
            boolean launcherGone = isLocal(existing) && existing.launcherGone();
            if (!launcherGone && !reservationExpired(existing, now)) {
                throw DeiaException.conflict("bot %s is already being launched (port %d on node %s reserved at %s by pid %d)",
                        botId, existing.port(), existing.node(), existing.registeredAt(), existing.launcherPid());
            }
            log.warn("[{}] taking over the port reservation of launcher pid {} on node {}: {}", botId,
                    existing.launcherPid(), existing.node(), launcherGone ? "that launcher is gone" : "it expired");
        }
    }

    @Override
    public boolean deregister(String botId) {
        BotIds.requireValid(botId);
        return change(botId, existing -> existing == null ? Change.none(false) : Change.delete(true), removed -> {
            if (removed) {
                log.info("[{}] deregistered", botId);
            }
        });
    }

    @Override
    public Optional<BotRecord> update(String botId, UnaryOperator<BotRecord> change) {
        BotIds.requireValid(botId);
        Objects.requireNonNull(change, "change");
        return change(botId, existing -> {
            if (existing == null) {
                return Change.none(Optional.<BotRecord>empty());
            }
            BotRecord changed = precise(Objects.requireNonNull(change.apply(existing), "the change returned null"));
            if (!changed.botId().equals(botId)) {
                throw DeiaException.invalid("an update of %s cannot change the bot id to %s", botId, changed.botId());
            }
            logStateChange(existing, changed);
            return Change.put(changed, Optional.of(changed));
        }, r -> { });
    }

    @Override
    public Optional<BotRecord> heartbeat(String botId, BotState state) {
        BotIds.requireValid(botId);
        Objects.requireNonNull(state, "state");
        return change(botId, existing -> {
            if (existing == null) {
                log.debug("[{}] heartbeat ignored: not registered", botId);
                return Change.none(Optional.<BotRecord>empty());
            }
            BotRecord beat = existing.toBuilder().state(state).lastHeartbeat(now()).build();
            logStateChange(existing, beat);
            return Change.put(beat, Optional.of(beat));
        }, r -> { });
    }

    @Override
    public Optional<BotRecord> get(String botId) {
        BotIds.requireValid(botId);
        RegistryBucket.Entry e = bucket.read(botId);
        return Optional.ofNullable(e == null ? null : e.record());
    }

    @Override
    public List<BotRecord> list() {
        return bucket.records();
    }

    /**
     * Removes entries whose process is gone (this node's entries: pid gone or reused), whose
     * heartbeat is older than {@code heartbeat_ttl_s}, or that are reservations nobody took up; each
     * removal is logged. Entries of bots stopped or failed on purpose are kept, and so are entries
     * of bots {@link BotRecord#wanted() wanted} running. Tasks are not looked at: on NATS they wait
     * in the hive's task stream whether or not the bot has an entry.
     */
    @Override
    public List<BotRecord> reapStale() {
        List<BotRecord> reaped = new ArrayList<>();
        for (BotRecord seen : bucket.records()) {
            String botId = seen.botId();
            BotRecord removed = change(botId, existing -> {
                String reason = existing == null ? null : staleReason(existing, now());
                if (reason == null) {
                    return Change.none((BotRecord) null);
                }
                if (existing.wanted()) {
                    log.debug("[{}] kept although {}: it is wanted running", botId, reason);
                    return Change.none((BotRecord) null);
                }
                log.warn("[{}] removed stale entry (pid {} on node {}, port {}, was {}): {}", botId, existing.pid(),
                        existing.node(), existing.port(), existing.state().id(), reason);
                return Change.delete(existing.toBuilder().state(BotState.STALE).lastError(reason).build());
            }, r -> { });
            if (removed != null) {
                reaped.add(removed);
            }
        }
        return List.copyOf(reaped);
    }

    /** Why {@code r} is stale, or null when it is not. */
    private String staleReason(BotRecord r, Instant now) {
        if (r.pid() > 0 && (r.state().isLive() || r.state() == BotState.RESTARTING)) {
            if (isLocal(r)) {
                Optional<Instant> actual = ProcessTrees.startInstant(r.pid());
                if (actual.isEmpty()) {
                    return "process " + r.pid() + " is gone";
                }
                if (r.processStart() != null && !millis(actual.get()).equals(millis(r.processStart()))) {
                    return "pid " + r.pid() + " now belongs to another process (started " + actual.get()
                            + ", recorded " + r.processStart() + ")";
                }
            }
            Instant last = r.lastHeartbeat() != null ? r.lastHeartbeat() : r.registeredAt();
            if (last != null && last.plus(ttl).isBefore(now)) {
                return "no heartbeat for " + Duration.between(last, now).toSeconds() + " s (ttl " + ttl.toSeconds() + " s)";
            }
            return null;
        }
        if (isReservation(r) && isLocal(r) && r.launcherGone()) {
            return "its launcher (pid " + r.launcherPid() + ") exited before the runner started";
        }
        if (isReservation(r) && reservationExpired(r, now)) {
            return "port reservation not taken up by a process within " + RESERVATION_TTL.toSeconds() + " s";
        }
        return null;
    }

    /**
     * True when {@code r}'s runner is alive: on this node by the process table (pid and start
     * instant), elsewhere by a live state with a heartbeat younger than the TTL.
     */
    private boolean isAlive(BotRecord r, Instant now) {
        if (r.pid() <= 0) {
            return false;
        }
        if (isLocal(r)) {
            return ProcessTrees.isSameProcessAlive(r.pid(), r.processStart());
        }
        Instant last = r.lastHeartbeat() != null ? r.lastHeartbeat() : r.registeredAt();
        return r.state().isLive() && last != null && !last.plus(ttl).isBefore(now);
    }

    private boolean isLocal(BotRecord r) {
        return node.equals(r.node());
    }

    /**
     * The read-decide-write every change goes through: read the entry and the bucket's sequence, let
     * {@code decide} choose, write with compare-and-set, and decide again from a fresh read when
     * another writer came first. {@code after} runs once, with the result that was written.
     */
    private <T> T change(String botId, Function<BotRecord, Change<T>> decide, java.util.function.Consumer<T> after) {
        while (true) {
            RegistryBucket.Entry entry = bucket.read(botId);
            BotRecord existing = entry == null ? null : entry.record();
            Change<T> c = decide.apply(existing);
            boolean done = switch (c.kind) {
                case NONE -> true;
                case PUT -> bucket.compareAndSet(botId, entry, RegistryBucket.bytes(c.record)) >= 0;
                case DELETE -> bucket.compareAndDelete(botId, entry);
            };
            if (done) {
                after.accept(c.result);
                return c.result;
            }
            log.debug("[{}] entry changed meanwhile; deciding again", botId);
        }
    }

    /** What a change does to the entry, and what the method returns. */
    private record Change<T>(Kind kind, BotRecord record, T result) {
        enum Kind { NONE, PUT, DELETE }

        static <T> Change<T> none(T result) {
            return new Change<>(Kind.NONE, null, result);
        }

        static <T> Change<T> put(BotRecord record, T result) {
            return new Change<>(Kind.PUT, record, result);
        }

        static <T> Change<T> delete(T result) {
            return new Change<>(Kind.DELETE, null, result);
        }
    }

    private static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }

    /** JSON keeps milliseconds; values handed back are cut to that, so they equal a later read. */
    private static BotRecord precise(BotRecord r) {
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

    /** Entries that are over for good free their port; every other one keeps it. */
    private static boolean holdsPort(BotRecord r) {
        return r.port() > 0 && r.state() != BotState.STOPPED && r.state() != BotState.FAILED && r.state() != BotState.STALE;
    }

    /** Same node and pid, and the same start instant where both sides know it: a re-register by the same process. */
    private static boolean sameProcess(BotRecord a, BotRecord b) {
        return a.pid() > 0 && a.pid() == b.pid() && Objects.equals(a.node(), b.node())
                && (a.processStart() == null || b.processStart() == null || millis(a.processStart()).equals(millis(b.processStart())));
    }

    private static void logStateChange(BotRecord before, BotRecord after) {
        if (before.state() != after.state()) {
            log.info("[{}] state {} -> {}", after.botId(), before.state().id(), after.state().id());
        } else {
            log.debug("[{}] updated (state {})", after.botId(), after.state().id());
        }
    }
}
