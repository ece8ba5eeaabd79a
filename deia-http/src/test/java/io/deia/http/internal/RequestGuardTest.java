package io.deia.http.internal;

import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The guard's settings and helpers; its checks run over real HTTP in BotHttpServiceTest and ControllerServerTest. */
class RequestGuardTest {
    @TempDir
    Path dir;

    @Test
    void noTypeABrowserMaySendWithoutAPreflightCanBeAllowed() {
        RequestGuard.Builder b = RequestGuard.builder("test", HiveToken.loadOrCreate(new HiveLayout(dir)));
        for (String simple : new String[] {"text/plain", "Text/Plain; charset=UTF-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.alsoAccept(simple, p -> true));
            assertTrue(e.getMessage().contains("preflight"), e.getMessage());
        }
        b.alsoAccept("text/markdown", p -> true);
    }

    @Test
    void loopbackHostsCarryThePortUnlessItIs80() {
        assertEquals(Set.of("127.0.0.1:8101", "localhost:8101", "[::1]:8101"), RequestGuard.loopbackHosts(8101));
        Set<String> http = RequestGuard.loopbackHosts(80);
        assertTrue(http.containsAll(Set.of("127.0.0.1", "localhost", "[::1]", "127.0.0.1:80")), http.toString());
        assertFalse(http.contains("evil.example"));
    }

    @Test
    void mediaTypeDropsParametersAndCase() {
        assertEquals("application/json", RequestGuard.mediaType(" Application/JSON ; charset=utf-8"));
        assertEquals("text/markdown", RequestGuard.mediaType("text/markdown"));
        assertEquals("(none)", RequestGuard.printable(null));
        assertEquals("a\\u000db", RequestGuard.printable("a\rb"));
    }
}
