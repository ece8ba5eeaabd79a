package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.config.Backend;
import io.nats.client.Connection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NatsHiveTest {
    @TempDir
    Path dir;

    static Backend backend(List<String> servers) {
        return new Backend("nats", servers, "t1", null, null);
    }

    @Test
    void connectsToASingleServerWithOneReplica() throws Exception {
        try (NatsServers nats = NatsServers.single(dir);
             NatsHive hive = NatsHive.connect(backend(nats.urls()), "deia-test")) {
            assertEquals("t1", hive.name());
            assertEquals(1, hive.clusterSize());
            assertEquals(1, hive.replicas());
            assertEquals(Connection.Status.CONNECTED, hive.connection().getStatus());
            assertTrue(hive.management().getAccountStatistics().getStreams() >= 0);
            hive.close();
            assertEquals(Connection.Status.CLOSED, hive.connection().getStatus());
        }
    }

    @Test
    void aClusterOfThreeGivesThreeReplicas() throws Exception {
        try (NatsServers nats = NatsServers.cluster(dir, 3)) {
            // Routes form after the servers accept clients: the advertised URLs fill in shortly.
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> {
                try (NatsHive hive = NatsHive.connect(backend(List.of(nats.url(0))), "deia-test")) {
                    return hive.replicas() == 3;
                }
            });
        }
    }

    @Test
    void anUnreachableUrlIsUnavailableAndNamesTheUrl() throws Exception {
        int port = PlainNatsServer.freePort();
        String url = "nats://127.0.0.1:" + port;
        DeiaException e = assertThrows(DeiaException.class, () -> NatsHive.connect(backend(List.of(url)), "deia-test"));
        assertEquals(ErrorCode.UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains(url), e.getMessage());
    }

    @Test
    void aServerWithoutJetStreamIsAClearError() throws Exception {
        try (PlainNatsServer plain = PlainNatsServer.start(dir)) {
            DeiaException e = assertThrows(DeiaException.class,
                    () -> NatsHive.connect(backend(List.of(plain.url())), "deia-test"));
            assertEquals(ErrorCode.UNAVAILABLE, e.code());
            assertTrue(e.getMessage().contains("-js"), e.getMessage());
        }
    }

    @Test
    void wrongCredentialsAreAnAuthorizationError() throws Exception {
        try (PlainNatsServer secured = PlainNatsServer.start(dir, "-js", "-sd", dir.resolve("store").toString(),
                "--user", "a", "--pass", "b")) {
            DeiaException none = assertThrows(DeiaException.class,
                    () -> NatsHive.connect(backend(List.of(secured.url())), "deia-test"));
            assertEquals(ErrorCode.UNAUTHORIZED, none.code());
            assertTrue(none.getMessage().contains("authorization"), none.getMessage());

            // A credentials file for an NKey user the server does not know.
            Path creds = dir.resolve("user.creds");
            Files.writeString(creds, NkeyCreds.newUserCreds());
            Backend withCreds = new Backend("nats", List.of(secured.url()), "t1", "env:DEIA_TEST_CREDS", null);
            DeiaException wrong = assertThrows(DeiaException.class,
                    () -> NatsHive.connect(withCreds, "deia-test", Map.of("DEIA_TEST_CREDS", creds.toString())::get));
            assertEquals(ErrorCode.UNAUTHORIZED, wrong.code());
            assertFalse(wrong.getMessage().contains(Files.readString(creds).trim()), "no secret in the message");
        }
    }

    @Test
    void aCredsVariableThatIsUnsetOrNamesNoFileIsInvalid() {
        Backend withCreds = new Backend("nats", List.of("nats://127.0.0.1:1"), "t1", "env:DEIA_TEST_CREDS", null);
        DeiaException unset = assertThrows(DeiaException.class,
                () -> NatsHive.connect(withCreds, "deia-test", Map.<String, String>of()::get));
        assertEquals(ErrorCode.INVALID_ARGUMENT, unset.code());
        assertTrue(unset.getMessage().contains("DEIA_TEST_CREDS"), unset.getMessage());
        DeiaException missing = assertThrows(DeiaException.class, () -> NatsHive.connect(withCreds, "deia-test",
                Map.of("DEIA_TEST_CREDS", dir.resolve("none.creds").toString())::get));
        assertEquals(ErrorCode.INVALID_ARGUMENT, missing.code());
        assertThrows(DeiaException.class, () -> NatsHive.connect(Backend.FILE, "x"));
    }
}
