package io.deia.examples;

import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;

import java.time.Instant;

/**
 * Uses the service registry directly: reserve a port for a bot, register this process as that
 * bot, heartbeat, list the entries as {@code registry.json} holds them, and deregister.
 *
 * <pre>java -cp deia-server.jar:examples/target/classes io.deia.examples.RegistryExample [HIVE_DIR]</pre>
 */
public final class RegistryExample {
    private RegistryExample() {
    }

    public static void main(String[] args) throws Exception {
        try (ExampleHive h = ExampleHive.open(args)) {
            BotRecord reserved = h.registry.reserve("EXAMPLE-3", "shout", "command");
            System.out.println("reserved port " + reserved.port() + " for " + reserved.botId());

            ProcessHandle me = ProcessHandle.current();
            BotRecord registered = h.registry.register(reserved.toBuilder()
                    .pid(me.pid()).processStart(me.info().startInstant().orElse(null))
                    .state(BotState.IDLE).registeredAt(Instant.now()).build());
            System.out.println("registered " + registered.botId() + " as pid " + registered.pid());

            h.registry.heartbeat("EXAMPLE-3", BotState.BUSY);
            for (BotRecord r : h.registry.list()) {
                System.out.println("entry " + Json.write(r));
            }
            System.out.println("deregistered: " + h.registry.deregister("EXAMPLE-3"));
        }
    }
}
