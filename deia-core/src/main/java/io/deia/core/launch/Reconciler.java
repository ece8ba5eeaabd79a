package io.deia.core.launch;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The desired-state loop of {@link BotLauncher#reconcile()}: for every registry entry that no live
 * controller supervises, what this controller does, and why. The launcher carries out what touches
 * its own supervision (adopting a runner, restarting a bot: {@link Supervision}); the loop, the
 * decision and marking entries failed live here, so the table can be read (and tested) in one place:
 *
 * <table>
 *   <caption>one unsupervised entry</caption>
 *   <tr><th>runner (pid + start instant)</th><th>wanted</th><th>action</th></tr>
 *   <tr><td>alive</td><td>any</td><td>{@link Action#ADOPT}</td></tr>
 *   <tr><td>gone, waiting to restart, or half-launched</td><td>yes</td><td>{@link Action#RESTART}
 *       under the profile's restart policy and budget (a death not counted yet counts)</td></tr>
 *   <tr><td>half-launched, its spawned runner alive (not registered yet)</td><td>any</td>
 *       <td>{@link Action#NONE}: it registers and is adopted on a later pass</td></tr>
 *   <tr><td>as above, profile or project unknown to this controller</td><td>yes</td><td>{@link Action#FAIL}</td></tr>
 *   <tr><td>gone, or an unfinished launch or restart</td><td>no</td><td>{@link Action#FAIL}</td></tr>
 *   <tr><td>stopped or failed on purpose</td><td>any</td><td>{@link Action#NONE}</td></tr>
 * </table>
 *
 * A recorded pid is believed only when a process with that pid and that start instant runs: an
 * entry that says {@code idle} over a dead pid (a stop or a crash whose record could not be
 * written) is a dead runner, never a running one. A half-launched entry (pid 0: the launcher died
 * before recording the pid) is told apart by the {@link RunnerLock.Spawn} the launcher wrote
 * right after spawning: a runner spawned for that attempt and dead is a death to count, no runner
 * at all is not. And no bot is restarted while a live process holds its runner lock.
 */
final class Reconciler {
    private static final Logger log = LoggerFactory.getLogger(Reconciler.class);
    private static final long SELF_PID = ProcessHandle.current().pid();

    /** The launcher's side of a reconcile. */
    interface Supervision {
        /** True when this launcher supervises the bot now. */
        boolean supervises(String botId);

        /** The launcher's lock of the bot: launches, stops and restarts hold it. */
        ReentrantLock lockFor(String botId);

        /** Supervises a live runner from now on; empty when it went away, or when not supervising. */
        Optional<BotRecord> adopt(BotRecord r);

        /**
         * Claims and restarts a wanted bot whose runner is gone; empty when another controller took
         * it. {@code uncountedDeath}: a runner died and no launcher counted it yet.
         */
        Optional<BotRecord> restart(BotRecord seen, Profile profile, String reason, boolean uncountedDeath);

        /** A bot was given up on (marked failed for good): tells whoever wants to know ({@code bot.failed}). */
        void failedForGood(String botId, String reason, Integer exitCode);
    }

    private final HiveLayout hive;
    private final ServiceRegistry registry;
    private final DeiaConfig config;
    private final Supervision supervision;
    /** Bots seen supervised by another live launcher, so that it is logged once, not every scan. */
    private final Set<String> leftToOthers = ConcurrentHashMap.newKeySet();

    Reconciler(HiveLayout hive, ServiceRegistry registry, DeiaConfig config, Supervision supervision) {
        this.hive = hive;
        this.registry = registry;
        this.config = config;
        this.supervision = supervision;
    }

    /** One pass over the registry; see {@link BotLauncher#reconcile()}. */
    BotLauncher.Reconciled reconcile() {
        List<BotRecord> adopted = new ArrayList<>();
        List<BotRecord> restarted = new ArrayList<>();
        List<BotRecord> failed = new ArrayList<>();
        for (BotRecord listed : registry.list()) {
            String botId = listed.botId();
            if (supervision.supervises(botId)) {
                continue;
            }
            if (leftToOther(listed)) {
                continue;
            }
            ReentrantLock lock = supervision.lockFor(botId);
            if (!lock.tryLock()) {
                continue; // launched, restarted or stopped here right now
            }
            try {
                BotRecord r = registry.get(botId).orElse(null);
                if (r == null || supervision.supervises(botId) || leftToOther(r)) {
                    continue;
                }
                Profile profile = config.profile(r.profile()).orElse(null);
                boolean projectKnown = r.project() == null || config.projects().containsKey(r.project());
                Decision decision = decide(r, profile != null, projectKnown, RunnerLock.lastSpawn(hive, botId).orElse(null));
                if (decision.action() == Action.RESTART && RunnerLock.isHeld(hive, botId)) {
                    // A runner the entry does not name (one whose launch lost a race) holds the
                    // lock: restarting would only start a runner that exits. It registers and is adopted.
                    log.info("[{}] not restarted: a live runner holds {}", botId, RunnerLock.file(hive, botId));
                    continue;
                }
                switch (decision.action()) {
                    case ADOPT -> supervision.adopt(r).ifPresent(adopted::add);
                    case RESTART -> supervision.restart(r, profile, decision.reason(), decision.uncountedDeath())
                            .ifPresent(restarted::add);
                    case FAIL -> markFailed(r, decision.reason()).ifPresent(failed::add);
                    case NONE -> { }
                }
            } finally {
                lock.unlock();
            }
        }
        return new BotLauncher.Reconciled(List.copyOf(adopted), List.copyOf(restarted), List.copyOf(failed));
    }

    /**
     * True when a live launcher answers for the entry: another controller (logged once per bot, so
     * the loser of a race says so), or another launcher of this process.
     */
    private boolean leftToOther(BotRecord r) {
        if (!r.launcherRuns()) {
            leftToOthers.remove(r.botId());
            return false;
        }
        if (r.launcherPid() != SELF_PID && leftToOthers.add(r.botId())) {
            log.info("[{}] left to the controller that runs it (pid {}); this one takes over if that one exits",
                    r.botId(), r.launcherPid());
        }
        return true;
    }

    /** Marks an entry failed, only as it was read (a conditional update under the registry's lock). */
    private Optional<BotRecord> markFailed(BotRecord r, String reason) {
        return registry.update(r.botId(), e -> e.equals(r)
                        ? e.toBuilder().state(BotState.FAILED).pid(0).processStart(null).lastError(reason).build() : e)
                .filter(e -> e.state() == BotState.FAILED && !e.equals(r))
                .map(e -> {
                    log.warn("[{}] marked failed: {}", r.botId(), reason);
                    supervision.failedForGood(r.botId(), reason, e.lastExitCode());
                    return e;
                });
    }

    /** What to do with an unsupervised entry. */
    enum Action { NONE, ADOPT, RESTART, FAIL }

    /**
     * The decision and, for {@link Action#RESTART} and {@link Action#FAIL}, the reason recorded;
     * {@code uncountedDeath} when a runner died that no launcher counted as a restart yet.
     */
    record Decision(Action action, String reason, boolean uncountedDeath) {
        Decision(Action action, String reason) {
            this(action, reason, false);
        }
    }

    /**
     * Decides for an entry that no live controller supervises.
     *
     * @param profileKnown whether this controller's config has the entry's profile
     * @param projectKnown whether this controller's config has the entry's project (true without one)
     * @param spawn        the last spawn recorded in the bot's runner lock, or null
     */
    static Decision decide(BotRecord r, boolean profileKnown, boolean projectKnown, RunnerLock.Spawn spawn) {
        if (r.pid() > 0 && ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())) {
            return new Decision(Action.ADOPT, null);
        }
        boolean halfLaunched = r.pid() == 0 && r.state() == BotState.STARTING && r.launcherPid() > 0;
        // Spawned for this very attempt (the reservation's instant names it) before the launcher died.
        boolean spawned = halfLaunched && spawn != null && spawn.attempt().equals(r.registeredAt());
        if (spawned && ProcessTrees.isSameProcessAlive(spawn.pid(), spawn.start())) {
            return new Decision(Action.NONE, null);
        }
        String what = spawned ? "runner pid " + spawn.pid() + " died before it registered, while no controller supervised it"
                : whatHappened(r);
        if (what == null) {
            return new Decision(Action.NONE, null);
        }
        if (!r.wanted()) {
            return new Decision(Action.FAIL, what);
        }
        if (!profileKnown) {
            return new Decision(Action.FAIL, what + "; its profile '" + r.profile()
                    + "' is not in this controller's config, so it cannot be restarted");
        }
        if (!projectKnown) {
            return new Decision(Action.FAIL, what + "; its project '" + r.project()
                    + "' is not in this controller's config, so it cannot be restarted");
        }
        return new Decision(Action.RESTART, what, spawned || r.pid() > 0);
    }

    /** Why an entry whose runner does not run is unfinished business, or null when it is settled. */
    private static String whatHappened(BotRecord r) {
        if (r.pid() > 0 && (r.state().isLive() || r.state() == BotState.RESTARTING)) {
            return "runner pid " + r.pid() + " died while no controller supervised it";
        }
        if (r.pid() == 0 && r.state() == BotState.RESTARTING) {
            return "the launcher supervising it" + (r.launcherPid() > 0 ? " (pid " + r.launcherPid() + ")" : "")
                    + " exited while it waited to restart";
        }
        if (r.pid() == 0 && r.state() == BotState.STARTING && r.launcherPid() > 0) {
            return "its launcher (pid " + r.launcherPid() + ") exited before the runner started";
        }
        return null;
    }
}
