package io.deia.core.registry;

import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * Which bots exist, where they listen and whether they are alive. Shared by the controller, the
 * launcher and every bot runner, possibly in different processes: every method is a complete,
 * isolated read-modify-write, and no update is ever lost.
 *
 * <p>The embedded default is {@link JsonFileServiceRegistry} ({@code hive/registry.json}). The
 * interface says nothing about files so that a distributed implementation can replace it.
 */
public interface ServiceRegistry {

    /**
     * Adds or replaces the entry for {@code record.botId()}.
     *
     * @throws io.deia.core.DeiaException {@link io.deia.core.ErrorCode#CONFLICT} when an entry for
     *         that id belongs to a different process that is still alive (same pid and start instant)
     */
    BotRecord register(BotRecord record);

    /**
     * Reserves a free port for {@code botId} and records it in a {@link BotState#STARTING} entry
     * (pid 0) in the same atomic step, so two launchers never get the same port. The entry is
     * {@link BotRecord#wanted() wanted} running from then on. The port is not
     * held by another registry entry and a real bind on it succeeded.
     *
     * @throws io.deia.core.DeiaException {@link io.deia.core.ErrorCode#CONFLICT} when the bot is live,
     *         {@link io.deia.core.ErrorCode#UNAVAILABLE} when no port in the range is free
     */
    default BotRecord reserve(String botId, String profile, String agent) {
        return reserve(botId, profile, agent, null);
    }

    /**
     * {@link #reserve(String, String, String)} for a bot that works on a configured project: the
     * entry names it ({@link BotRecord#project()}), so every restart and adoption keeps it.
     *
     * @param project the project's name, or null for a bot in its private workspace
     */
    BotRecord reserve(String botId, String profile, String agent, String project);

    /** Removes the entry; returns false when there was none. */
    boolean deregister(String botId);

    /**
     * Applies {@code change} to the current entry atomically and stores the result.
     *
     * @return the stored entry, or empty when there is no entry for {@code botId}
     */
    Optional<BotRecord> update(String botId, UnaryOperator<BotRecord> change);

    /** Records a heartbeat now, with the runner's current state. Empty when not registered. */
    Optional<BotRecord> heartbeat(String botId, BotState state);

    /** The entry for {@code botId}, if any. */
    Optional<BotRecord> get(String botId);

    /** All entries, ordered by bot id. */
    List<BotRecord> list();

    /**
     * Removes entries whose process is gone, whose pid now belongs to another process (start
     * instant differs), or whose heartbeat is older than the TTL; each removal is logged.
     * Entries of bots that are stopped or failed on purpose are kept (they carry the reason), and so
     * are entries of bots {@link BotRecord#wanted() wanted} running (a controller restarts those)
     * or whose inbox or claims hold tasks.
     *
     * @return the entries that were removed
     */
    List<BotRecord> reapStale();
}
