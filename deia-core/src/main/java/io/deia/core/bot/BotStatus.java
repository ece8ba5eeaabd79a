package io.deia.core.bot;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.deia.core.agent.AgentHealth;
import io.deia.core.ledger.BotBudget;
import io.deia.core.ledger.CostSummary;
import io.deia.core.registry.BotState;

import java.time.Instant;

/**
 * Everything a bot's {@code GET /status} reports, as one snapshot.
 *
 * @param botId             the bot
 * @param state             {@code starting|idle|busy|paused|stopping}, {@code degraded} while the
 *                          hive cannot be written as it must (see {@code degraded}), or
 *                          {@code waiting_approval} while the agent waits for a person's permission, or
 *                          {@code queued} while its next turn waits for a turn slot
 * @param currentTask       id of the task whose turn runs now, or null (always present in JSON)
 * @param queueDepth        tasks waiting in the inbox or claimed and unfinished
 * @param messagesWaiting   chat messages accepted and not started yet
 * @param pid               the runner process
 * @param port              the bot's HTTP port
 * @param uptimeS           seconds since the runtime started
 * @param profile           profile name
 * @param agent             agent type
 * @param tasksCompleted    tasks that ended completed
 * @param tasksFailed       tasks that failed for good
 * @param tasksRejected     task files rejected as unreadable or invalid
 * @param messagesCompleted chat turns that completed
 * @param costUsd           cost the agent reported, summed over every turn since this start (see {@code cost})
 * @param inputTokens       input tokens summed over every turn
 * @param outputTokens      output tokens summed over every turn
 * @param startedAt         when the runtime started
 * @param agentHealth       the agent's own view (pid of its process, crashes, session)
 * @param degraded          why the bot is degraded (task starts or responses cannot be written),
 *                          or null (always present in JSON)
 * @param cost              what the bot spent, today (UTC) and in all, from its ledger (survives restarts)
 * @param budget            whether it is over a budget, and which
 * @param queuePosition     the bot's 1-based place in the hive's line for a turn slot while its state is
 *                          {@code queued}, else null (absent from JSON)
 */
public record BotStatus(String botId, BotState state, @JsonInclude(JsonInclude.Include.ALWAYS) String currentTask,
                        int queueDepth, int messagesWaiting, long pid, int port, long uptimeS, String profile,
                        String agent, long tasksCompleted, long tasksFailed, long tasksRejected,
                        long messagesCompleted, double costUsd, long inputTokens, long outputTokens,
                        Instant startedAt, AgentHealth agentHealth,
                        @JsonInclude(JsonInclude.Include.ALWAYS) String degraded, CostSummary cost, BudgetState budget,
                        Integer queuePosition) {

    /**
     * Whether the bot is over a budget: {@code {"over": true, "reason": "the hive budget …"}}, or
     * {@code {"over": false, "reason": null}}.
     *
     * @param over   true once a budget of the hive or the bot's profile is reached
     * @param reason which budget, spent and limit; null while within budget
     */
    public record BudgetState(boolean over, @JsonInclude(JsonInclude.Include.ALWAYS) String reason) {
        /** The state for a reached budget, or for none (null). */
        public static BudgetState of(BotBudget.Breach breach) {
            return breach == null ? new BudgetState(false, null) : new BudgetState(true, breach.reason());
        }
    }
}
