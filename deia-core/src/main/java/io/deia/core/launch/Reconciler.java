package io.deia.core.launch;

import io.deia.core.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;

/**
 * The desired-state decision of {@link BotLauncher#reconcile()}: what a controller does with one
 * registry entry that no live controller supervises, and why. Kept apart from the launcher, which
 * carries the decision out, so the table can be read (and tested) in one place:
 *
 * <table>
 *   <caption>one unsupervised entry</caption>
 *   <tr><th>runner (pid + start instant)</th><th>wanted</th><th>action</th></tr>
 *   <tr><td>alive</td><td>any</td><td>{@link Action#ADOPT}</td></tr>
 *   <tr><td>gone, waiting to restart, or half-launched</td><td>yes</td><td>{@link Action#RESTART}
 *       under the profile's restart policy and budget (the death counts)</td></tr>
 *   <tr><td>as above, profile unknown to this controller</td><td>yes</td><td>{@link Action#FAIL}</td></tr>
 *   <tr><td>gone, or an unfinished launch or restart</td><td>no</td><td>{@link Action#FAIL}</td></tr>
 *   <tr><td>stopped or failed on purpose</td><td>any</td><td>{@link Action#NONE}</td></tr>
 * </table>
 *
 * A recorded pid is believed only when a process with that pid and that start instant runs: an
 * entry that says {@code idle} over a dead pid (a stop or a crash whose record could not be
 * written) is a dead runner, never a running one.
 */
final class Reconciler {
    private Reconciler() {
    }

    /** What to do with an unsupervised entry. */
    enum Action { NONE, ADOPT, RESTART, FAIL }

    /** The decision and, for {@link Action#RESTART} and {@link Action#FAIL}, the reason recorded. */
    record Decision(Action action, String reason) {
    }

    /**
     * Decides for an entry that no live controller supervises.
     *
     * @param profileKnown whether this controller's config has the entry's profile
     */
    static Decision decide(BotRecord r, boolean profileKnown) {
        if (r.pid() > 0 && ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())) {
            return new Decision(Action.ADOPT, null);
        }
        String what = whatHappened(r);
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
        return new Decision(Action.RESTART, what);
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
