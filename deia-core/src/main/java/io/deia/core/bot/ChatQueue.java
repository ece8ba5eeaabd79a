package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnRequest;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.chat.ChatRequest;
import io.deia.core.internal.DenyPatterns;
import io.deia.core.ledger.BotBudget;
import io.deia.core.schedule.TurnOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A bot's chat messages: checked, queued in arrival order and run one by one as turns by one
 * worker thread. The queue is bounded ({@link io.deia.core.config.Profile#messageQueueCapacity()});
 * one more message is refused with {@code TOO_MANY_REQUESTS}, and a message that cannot run
 * because the bot stops is failed with {@code UNAVAILABLE}: none is dropped silently. While the bot is
 * over a budget a message is refused with {@code BUDGET_EXCEEDED}, when it arrives or when its turn comes.
 */
final class ChatQueue {
    private static final Logger log = LoggerFactory.getLogger(ChatQueue.class);

    private final BotRuntime bot;
    private final Turns turns;
    private final BotStats stats;
    private final DenyPatterns denyPatterns;
    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    /** Messages accepted and not started yet, including the one waiting for its turn; guarded by this. */
    private int waiting;
    private Thread worker;

    ChatQueue(BotRuntime bot, Turns turns, BotStats stats) {
        this.bot = bot;
        this.turns = turns;
        this.stats = stats;
        this.denyPatterns = DenyPatterns.of(bot.profile());
    }

    void start() {
        worker = new Thread(this::loop, "bot-" + bot.botId() + "-chat");
        worker.setDaemon(true);
        worker.start();
    }

    /** Queues a message; see {@link BotRuntime#submitMessage}. */
    CompletableFuture<TurnResult> submit(String text, String clientMsgId, AgentEventListener listener) {
        Objects.requireNonNull(text, "text");
        String botId = bot.botId();
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        int max = bot.config().maxMessageBytes();
        if (bytes > max) {
            throw DeiaException.tooLarge("message is %d bytes; the limit is %d", bytes, max);
        }
        // Every chat message reaches the agent through here (controller or this bot's own port).
        denyPatterns.check(botId, "message", text);
        ChatRequest.requireClientMsgId(clientMsgId);
        refuseOverBudget();
        Pending message = new Pending(text, clientMsgId, listener == null ? AgentEventListener.NONE : listener,
                new CompletableFuture<>(), Instant.now());
        synchronized (this) {
            // A stop sets its flag before it drains under this lock: a message added here is drained or refused.
            if (bot.isStopping() || !bot.isStarted()) {
                throw DeiaException.unavailable("bot %s is %s", botId, bot.isStopping() ? "stopping" : "not started");
            }
            if (waiting >= bot.profile().messageQueueCapacity()) {
                throw DeiaException.tooMany("bot %s has %d messages waiting (the limit); try again later", botId,
                        waiting);
            }
            waiting++;
            queue.add(message);
        }
        log.debug("[{}] message {} queued", botId, clientMsgId);
        return message.result;
    }

    /** Refuses a message with {@code BUDGET_EXCEEDED} while the bot is over a budget. */
    private void refuseOverBudget() {
        BotBudget.Breach breach = bot.budgetBreach();
        if (breach != null) {
            throw DeiaException.budgetExceeded("bot %s takes no message: %s", bot.botId(), breach.reason());
        }
    }

    synchronized int waiting() {
        return waiting;
    }

    /** Fails every waiting message with {@code UNAVAILABLE}: the bot is stopping. */
    void failWaiting() {
        List<Pending> drained = new ArrayList<>();
        synchronized (this) {
            queue.drainTo(drained);
            waiting -= drained.size();
        }
        drained.forEach(this::reject);
        if (!drained.isEmpty()) {
            log.info("[{}] {} waiting messages refused: bot stopping", bot.botId(), drained.size());
        }
    }

    /** Ends the worker (it may be waiting for a turn); called by the stop after the last turn. */
    void stop() {
        if (worker != null) {
            worker.interrupt();
        }
        failWaiting();
    }

    private void loop() {
        while (!bot.isStopping()) {
            Pending message;
            try {
                message = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            try {
                turns.lock();
            } catch (InterruptedException e) {
                reject(message);
                return;
            }
            try {
                synchronized (this) {
                    waiting--;
                }
                if (bot.isStopping()) {
                    reject(message);
                    continue;
                }
                // Queued while the budget allowed, its turn comes after the budget was reached.
                refuseOverBudget();
                TurnResult result = turns.run(new TurnRequest(message.text, bot.profile().timeout(), null),
                        message.listener, null, TurnOrder.chat(message.arrival));
                if (result.status() == TurnStatus.COMPLETED) {
                    stats.messagesCompleted.incrementAndGet();
                }
                log.info("[{}] message {} turn {} in {} ms", bot.botId(), message.clientMsgId, result.status().id(),
                        result.durationMs());
                message.result.complete(result);
            } catch (RuntimeException e) {
                log.warn("[{}] message {} failed: {}", bot.botId(), message.clientMsgId, e.toString());
                message.result.completeExceptionally(e instanceof DeiaException ? e
                        : DeiaException.internal("bot " + bot.botId() + ": the turn failed: " + e.getMessage(), e));
            } finally {
                turns.unlock();
            }
        }
    }

    private void reject(Pending message) {
        message.result.completeExceptionally(
                DeiaException.unavailable("bot %s is stopping; the message was not run", bot.botId()));
    }

    private record Pending(String text, String clientMsgId, AgentEventListener listener,
                           CompletableFuture<TurnResult> result, Instant arrival) {
    }
}
