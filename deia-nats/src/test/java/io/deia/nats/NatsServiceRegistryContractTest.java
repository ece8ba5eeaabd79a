package io.deia.nats;

import io.deia.core.config.Backend;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.registry.ServiceRegistryContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The {@link ServiceRegistry} contract on the NATS registry: one real nats-server for the class, a
 * hive (bucket) of its own per test, and a connection of its own per registry instance, as separate
 * processes would have.
 */
class NatsServiceRegistryContractTest extends ServiceRegistryContract {
    private static final AtomicInteger HIVES = new AtomicInteger();

    @TempDir
    static Path dir;
    static NatsServers nats;

    private final List<NatsHive> connections = new ArrayList<>();
    private String hiveName;

    @BeforeAll
    static void startServer() throws Exception {
        nats = NatsServers.single(dir);
    }

    @AfterAll
    static void stopServer() {
        nats.close();
    }

    @BeforeEach
    void newHive() {
        hiveName = "contract" + HIVES.incrementAndGet();
    }

    @AfterEach
    void closeConnections() {
        connections.forEach(NatsHive::close);
    }

    @Override
    protected ServiceRegistry registry(DeiaConfig config) {
        NatsHive hive = NatsHive.connect(new Backend("nats", nats.urls(), hiveName, null, null), "deia-test");
        connections.add(hive);
        return new NatsServiceRegistry(hive, config, "node-a");
    }
}
