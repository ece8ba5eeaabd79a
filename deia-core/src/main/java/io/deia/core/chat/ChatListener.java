package io.deia.core.chat;

/**
 * A subscriber of the router's events. Called on the router's threads, in the order the events
 * of one bot happen: keep it quick and never block (queue the event and return).
 */
@FunctionalInterface
public interface ChatListener {
    void onEvent(ChatEvent event);
}
