package io.deia.nats;

import io.nats.client.Connection;
import io.nats.client.Nats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NatsServersTest {
    @Test
    void aClusterOfThreeServesJetStreamAndAKilledMemberComesBack(@TempDir Path dir) throws Exception {
        try (NatsServers cluster = NatsServers.cluster(dir, 3);
             Connection nc = Nats.connect(cluster.url(0))) {
            assertEquals(Connection.Status.CONNECTED, nc.getStatus());
            assertTrue(nc.getServerInfo().isJetStreamAvailable(), "JetStream on");
            cluster.kill(2);
            cluster.restart(2);
            try (Connection again = Nats.connect(cluster.url(2))) {
                assertEquals(Connection.Status.CONNECTED, again.getStatus());
            }
        }
    }
}
