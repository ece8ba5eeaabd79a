package io.deia.core.agent;

/**
 * What {@code /status} shows about a bot's agent.
 *
 * @param type           the agent type
 * @param pid            pid of the running agent process, or null when none runs now
 * @param crashes        how many times the agent process died unexpectedly
 * @param lastExitCode   exit code of the last agent process that ended, or null
 * @param sessionId      the CLI session carried across turns, or null
 * @param totalCostUsd   cost summed over all turns so far
 * @param inputTokens    input tokens summed over all turns
 * @param outputTokens   output tokens summed over all turns
 */
public record AgentHealth(String type, Long pid, int crashes, Integer lastExitCode, String sessionId,
                          double totalCostUsd, long inputTokens, long outputTokens) {
}
