package io.deia.core.agent;

/**
 * Counters behind {@link Agent#health()}, shared by the adapters. Thread-safe: turns update it on
 * their own thread while {@code /status} reads it.
 */
final class AgentStats {
    private final String type;
    private int crashes;
    private Integer lastExitCode;
    private String sessionId;
    private double totalCostUsd;
    private long inputTokens;
    private long outputTokens;

    AgentStats(String type) {
        this.type = type;
    }

    synchronized void crashed() {
        crashes++;
    }

    synchronized void exited(Integer exitCode) {
        lastExitCode = exitCode;
    }

    synchronized void session(String id) {
        if (id != null && !id.isBlank()) {
            sessionId = id;
        }
    }

    synchronized void clearSession() {
        sessionId = null;
    }

    synchronized String sessionId() {
        return sessionId;
    }

    /** Adds what a finished turn reported (cost, tokens); absent values count as zero. */
    synchronized void add(TurnResult r) {
        if (r.costUsd() != null) {
            totalCostUsd += r.costUsd();
        }
        if (r.inputTokens() != null) {
            inputTokens += r.inputTokens();
        }
        if (r.outputTokens() != null) {
            outputTokens += r.outputTokens();
        }
        session(r.sessionId());
    }

    synchronized AgentHealth snapshot(Long pid) {
        return new AgentHealth(type, pid, crashes, lastExitCode, sessionId, totalCostUsd, inputTokens, outputTokens);
    }
}
