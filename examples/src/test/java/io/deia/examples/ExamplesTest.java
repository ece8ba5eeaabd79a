package io.deia.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Smoke tests: each example runs as-is, against real bot processes, and prints what its docs say. */
class ExamplesTest {
    @TempDir
    Path dir;

    @Test
    void embeddedLauncherRunsATaskAndStopsTheBot() throws Exception {
        String out = run(() -> EmbeddedLauncherExample.main(new String[]{dir.toString()}));
        assertTrue(out.contains("launched EXAMPLE-1"), out);
        assertTrue(out.contains("completed in"), out);
        assertTrue(out.contains("HELLO FROM AN EMBEDDED LAUNCHER"), out);
        assertTrue(out.contains("stopped EXAMPLE-1: stopped"), out);
    }

    @Test
    void chatRouterRelaysTheReply() throws Exception {
        String out = run(() -> ChatRouterExample.main(new String[]{dir.toString()}));
        assertTrue(out.contains("event ack"), out);
        assertTrue(out.contains("reply (completed): ROUTE THIS MESSAGE, PLEASE"), out);
        assertTrue(out.contains("history lines: 2"), out);
    }

    @Test
    void registryExampleRegistersAndDeregisters() throws Exception {
        String out = run(() -> RegistryExample.main(new String[]{dir.toString()}));
        assertTrue(out.contains("reserved port 87"), out);
        assertTrue(out.contains("\"bot_id\":\"EXAMPLE-3\""), out);
        assertTrue(out.contains("\"state\":\"busy\""), out);
        assertTrue(out.contains("deregistered: true"), out);
    }

    private interface Example {
        void run() throws Exception;
    }

    private static String run(Example example) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            example.run();
        } finally {
            System.setOut(original);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        original.print(out);
        return out;
    }
}
