package io.deia.core.schedule;

import io.deia.core.HiveLayout;
import io.deia.core.config.HiveSettings;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A runner stand-in for the tests: takes a turn slot under a hive limit (waiting in line when it
 * must), prints {@code HELD} or {@code QUEUED}, and then does nothing until it is killed.
 * Arguments: hive folder, bot id, hive limit.
 */
public final class SlotHolderMain {
    private SlotHolderMain() {
    }

    public static void main(String[] args) throws Exception {
        HiveLayout hive = new HiveLayout(Path.of(args[0]));
        HiveSettings settings = new HiveSettings(Integer.parseInt(args[2]), null, Map.of(), List.of(), null);
        TurnSlots slots = new TurnSlots(hive, args[1], "p", () -> settings);
        SlotLease lease = slots.acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> {
            System.out.println("QUEUED");
            System.out.flush();
        });
        System.out.println("HELD " + lease);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
