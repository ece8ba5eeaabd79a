package io.deia.core.process;

import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SignallerTest {
    @Test
    void prepareStartsTheShellAheadAndSignalsThenGoThroughIt() throws Exception {
        Signaller signaller = new Signaller();
        assertTrue(signaller.prepare());
        assertTrue(signaller.prepare(), "a second prepare reuses the running shell");
        Process sleeper = new ProcessBuilder("sleep", "300").start();
        try {
            assertTrue(signaller.send("TERM", Long.toString(sleeper.pid())));
            assertTrue(sleeper.waitFor(10, TimeUnit.SECONDS));
        } finally {
            sleeper.destroyForcibly();
        }
    }

    @Test
    void prepareReportsAShellThatCannotStartAndSignalsStillArrive() throws Exception {
        Signaller signaller = new Signaller("/nonexistent/deia-test-shell");
        assertFalse(signaller.prepare());
        Process sleeper = new ProcessBuilder("sleep", "300").start();
        try {
            assertTrue(signaller.send("TERM", Long.toString(sleeper.pid())), "falls back to the kill program");
            assertTrue(sleeper.waitFor(10, TimeUnit.SECONDS));
        } finally {
            sleeper.destroyForcibly();
        }
    }

    @Test
    void prepareReportsAShellThatDoesNotAnswer() {
        // /bin/true exits at once without reading its commands: no answer line.
        assertFalse(new Signaller("/bin/true").prepare());
    }
}
