package io.deia.core.chat;

import io.deia.core.agent.TurnResult;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The turns of the most recently accepted messages, by bot and {@code client_msg_id}, so that a
 * client retrying a message whose answer it never saw (its connection dropped between send and
 * acknowledgement) gets the first turn's outcome instead of starting a second turn. Bounded: the
 * oldest entries make way, which only matters for a retry that comes thousands of messages late.
 * In memory: a controller restart forgets them (the retry then starts a new turn).
 */
final class RecentMessages {
    /** Enough for every message of a busy hour of a large hive; each entry is a few hundred bytes. */
    static final int CAPACITY = 4096;

    private final Map<String, CompletableFuture<TurnResult>> turns = new LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<TurnResult>> eldest) {
            return size() > CAPACITY;
        }
    };

    /**
     * Records {@code turn} as the turn of the message unless one is recorded already.
     *
     * @return the earlier turn of the same message, or null when {@code turn} was recorded
     */
    synchronized CompletableFuture<TurnResult> claim(String botId, String clientMsgId, CompletableFuture<TurnResult> turn) {
        return turns.putIfAbsent(key(botId, clientMsgId), turn);
    }

    /** Forgets a claim whose message was refused before it was queued, so that a retry may try again. */
    synchronized void release(String botId, String clientMsgId, CompletableFuture<TurnResult> turn) {
        turns.remove(key(botId, clientMsgId), turn);
    }

    private static String key(String botId, String clientMsgId) {
        // A bot id never contains a space (BotIds), so the key cannot collide across bots.
        return botId + " " + clientMsgId;
    }
}
