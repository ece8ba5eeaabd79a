package io.deia.core.agent;

/** Receives a turn's events as they happen, on the agent's reader thread: keep it quick. */
@FunctionalInterface
public interface AgentEventListener {
    void onEvent(AgentEvent event);

    /** A listener that ignores everything. */
    AgentEventListener NONE = event -> {
    };
}
