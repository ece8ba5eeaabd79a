package io.deia.core.registry;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;

import java.nio.file.Path;
import java.util.Map;

/**
 * A second process for {@link RegistryCommitTest}: makes one registry change and exits.
 * Arguments: the folder given to HiveLayout, {@code beat <id> <state>} or {@code restarts <id>} (increment).
 */
public final class RegistryOneChangeWorker {
    private RegistryOneChangeWorker() {
    }

    public static void main(String[] args) {
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(new HiveLayout(Path.of(args[0])), DeiaConfig.of(Map.of()));
        switch (args[1]) {
            case "beat" -> registry.heartbeat(args[2], BotState.fromId(args[3])).orElseThrow();
            case "restarts" -> registry.update(args[2], r -> r.toBuilder().restarts(r.restarts() + 1).build()).orElseThrow();
            default -> throw new IllegalArgumentException(args[1]);
        }
    }
}
