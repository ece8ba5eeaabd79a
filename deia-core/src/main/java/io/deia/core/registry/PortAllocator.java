package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig.PortRange;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Set;

/**
 * Picks a port for a bot: inside the configured range, not held by another registry entry, and
 * actually bindable on 127.0.0.1 right now (so a port some other program listens on is skipped).
 * Public for the other registry implementations (deia-nats), which allocate ports the same way.
 */
public final class PortAllocator {
    /** Bots bind 127.0.0.1 (BotRecord.host); getLoopbackAddress() could answer ::1 instead. */
    private static final InetAddress LOOPBACK = loopback();

    private PortAllocator() {
    }

    /**
     * The first usable port, trying {@code preferred} first when it is in range (a relaunched bot
     * keeps its URL when it can).
     *
     * @throws DeiaException {@code UNAVAILABLE} when every port in the range is held or busy
     */
    public static int allocate(String botId, PortRange range, Set<Integer> held, int preferred) {
        if (range.contains(preferred) && !held.contains(preferred) && canBind(preferred)) {
            return preferred;
        }
        int heldInRange = 0;
        int busy = 0;
        for (int port = range.from(); port <= range.to(); port++) {
            if (held.contains(port)) {
                heldInRange++;
            } else if (canBind(port)) {
                return port;
            } else {
                busy++;
            }
        }
        throw DeiaException.unavailable("no free port for %s in %d..%d: %d held by bots, %d in use by other programs",
                botId, range.from(), range.to(), heldInRange, busy);
    }

    private static InetAddress loopback() {
        try {
            return InetAddress.getByAddress("127.0.0.1", new byte[] {127, 0, 0, 1});
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException("a literal address cannot be unknown", e);
        }
    }

    /**
     * True when a listening socket can be bound on 127.0.0.1:{@code port} now. SO_REUSEADDR stays
     * off so that a port another program listens on (on any address) counts as busy.
     */
    public static boolean canBind(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(false);
            socket.bind(new InetSocketAddress(LOOPBACK, port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
