package io.deia.core.chat;

import io.deia.core.DeiaException;
import io.deia.core.agent.TurnResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/**
 * What a retried message (a {@code client_msg_id} the router accepted before) gets instead of a
 * second turn: an {@code ack} marked {@code duplicate}, and -- when the first turn has already
 * ended -- its {@code reply} or {@code error} once more, because the retrying client most likely
 * missed it. A turn still running sends its own events when it ends.
 */
final class MessageRetries {
    private static final Logger log = LoggerFactory.getLogger(MessageRetries.class);

    private MessageRetries() {
    }

    static CompletableFuture<TurnResult> answer(String botId, String msgId, String text, String source,
                                                CompletableFuture<TurnResult> earlier, Consumer<ChatEvent> publish) {
        log.info("[{}] message {} is a retry of an accepted message; no second turn", botId, msgId);
        publish.accept(ChatEvent.of(ChatEvent.ACK, botId, "client_msg_id", msgId, "text", text, "source", source,
                "duplicate", Boolean.TRUE));
        if (earlier.isDone()) {
            try {
                TurnResult result = earlier.join();
                publish.accept(ChatEvent.of(ChatEvent.REPLY, botId, "client_msg_id", msgId, "text", result.text(),
                        "result", result));
            } catch (CompletionException e) {
                DeiaException failure = e.getCause() instanceof DeiaException d ? d
                        : DeiaException.internal("the first attempt failed: " + e.getCause(), e.getCause());
                publish.accept(ChatEvent.of(ChatEvent.ERROR, botId, "client_msg_id", msgId, "code",
                        failure.code().id(), "message", failure.getMessage()));
            }
        }
        return earlier;
    }
}
