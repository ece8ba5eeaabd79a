package io.deia.core.ledger;

import java.time.Instant;

/**
 * One line of a bot's ledger ({@code hive/ledger/<BOT-ID>.jsonl}): an agent turn with what it cost,
 * or a task's final outcome. The ledger is the one durable record budgets, {@code /status} spend,
 * the dashboard and {@code GET /metrics} are computed from.
 *
 * <pre>{@code
 * {"kind":"turn","at":"2026-12-08T10:00:05.120Z","bot_id":"BOT-001","profile":"claude","source":"task",
 *  "task_id":"fix-login","attempt":1,"status":"completed","duration_ms":5120,"cost_usd":0.0123,
 *  "cost_known":true,"input_tokens":1200,"output_tokens":340,"pickup_ms":12}
 * {"kind":"task","at":"2026-12-08T10:00:05.140Z","bot_id":"BOT-001","profile":"claude",
 *  "task_id":"fix-login","attempt":1,"status":"completed"}
 * }</pre>
 *
 * @param kind         {@code turn} or {@code task}
 * @param at           when the turn or task ended
 * @param botId        the bot
 * @param profile      the bot's profile
 * @param source       for a turn: {@code task} or {@code chat}; null for a task line
 * @param taskId       the task, or null for a chat turn
 * @param attempt      the task attempt, or null for a chat turn
 * @param status       a turn's status ({@code completed|failed|timeout|interrupted}) or a task's final
 *                     status ({@code completed|failed|timeout|interrupted|rejected})
 * @param durationMs   a turn's duration, or null
 * @param costUsd      what the turn cost: as the agent reported it, or computed from the profile's
 *                     prices; null when unknown
 * @param costKnown    for a turn: false when neither the agent nor a price table gave its cost
 * @param inputTokens  input tokens the agent reported, or null
 * @param outputTokens output tokens the agent reported, or null
 * @param pickupMs     for a task's first turn: from the task's arrival in the inbox to its turn's start
 * @param exitCode     for a turn: the agent process's exit code when it ended the turn by exiting, else null
 */
public record LedgerEntry(String kind, Instant at, String botId, String profile, String source, String taskId,
                          Integer attempt, String status, Long durationMs, Double costUsd, Boolean costKnown,
                          Long inputTokens, Long outputTokens, Long pickupMs, Integer exitCode) {
    /** {@link #kind()} of an agent turn. */
    public static final String TURN = "turn";
    /** {@link #kind()} of a task's final outcome. */
    public static final String TASK = "task";

    /** True for a turn line. */
    public boolean isTurn() {
        return TURN.equals(kind);
    }

    /** True for a task outcome line. */
    public boolean isTask() {
        return TASK.equals(kind);
    }

    /** A task's final outcome. */
    public static LedgerEntry task(Instant at, String botId, String profile, String taskId, int attempt, String status) {
        return new LedgerEntry(TASK, at, botId, profile, null, taskId, attempt, status, null, null, null, null, null, null, null);
    }
}
