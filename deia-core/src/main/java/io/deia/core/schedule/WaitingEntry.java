package io.deia.core.schedule;

import java.time.Instant;
import java.util.Comparator;

/**
 * One bot waiting for a turn slot: the content of its file in {@code hive/slots/waiting/}. The file
 * is locked by the waiting runner for the whole wait, so an entry whose file is not locked belongs to
 * a runner that died and is ignored (and deleted by the next waiter that looks).
 *
 * @param botId    the waiting bot
 * @param profile  its profile (whose {@code max_concurrent} applies too)
 * @param priority 0 (P0) to 3
 * @param kind     {@code chat} or {@code task}
 * @param taskId   the task whose turn waits, or null for a chat message
 * @param since    the task's creation time or the message's arrival
 * @param queuedAt when the bot started waiting
 * @param pid      the runner process
 */
public record WaitingEntry(String botId, String profile, int priority, String kind, String taskId, Instant since,
                           Instant queuedAt, long pid) {
    /** Kind of a chat message's turn. */
    public static final String CHAT = "chat";
    /** Kind of a task's turn. */
    public static final String TASK = "task";

    /** The line's order: priority, chat before task, age, then when queued and the bot id (a total order). */
    public static final Comparator<WaitingEntry> ORDER = Comparator.comparingInt(WaitingEntry::priority)
            .thenComparing(e -> CHAT.equals(e.kind()) ? 0 : 1)
            .thenComparing(WaitingEntry::since, Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparing(WaitingEntry::queuedAt, Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparing(WaitingEntry::botId);

    static WaitingEntry of(String botId, String profile, TurnOrder order, String taskId) {
        return new WaitingEntry(botId, profile, order.priority(), order.chat() ? CHAT : TASK, taskId, order.since(),
                Instant.now(), ProcessHandle.current().pid());
    }
}
