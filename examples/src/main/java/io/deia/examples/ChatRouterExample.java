package io.deia.examples;

import io.deia.core.agent.TurnResult;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.registry.BotRecord;

import java.util.concurrent.TimeUnit;

/**
 * Routes a chat message: the {@link MessageRouter} finds the bot through the registry, sends the
 * message to its {@code /message} endpoint and relays the streamed events to every subscriber;
 * the conversation is kept in the bot's history file.
 *
 * <pre>java -cp deia-server.jar:examples/target/classes io.deia.examples.ChatRouterExample [HIVE_DIR]</pre>
 */
public final class ChatRouterExample {
    private ChatRouterExample() {
    }

    public static void main(String[] args) throws Exception {
        try (ExampleHive h = ExampleHive.open(args);
             HistoryStore history = new HistoryStore(h.hive);
             MessageRouter router = MessageRouter.builder(h.registry, history, h.config).build()) {
            BotRecord bot = h.launcher.launch("EXAMPLE-2", "shout");
            System.out.println("launched " + bot.botId() + " on " + bot.url());
            router.start();
            try (MessageRouter.Subscription events = router.subscribe(bot.botId(),
                    e -> System.out.println("event " + e.type() + " " + e.data()))) {
                TurnResult result = router.send(bot.botId(), "route this message, please", "example-msg-1")
                        .get(60, TimeUnit.SECONDS);
                System.out.println("reply (" + result.status().id() + "): " + result.text().strip());
            }
            System.out.println("history lines: " + history.read(bot.botId(), null, 10).messages().size());
            h.launcher.stop(bot.botId());
        }
    }
}
