package io.deia.core.task;

import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Control characters an agent prints never land raw in a response file. */
class ResponseEscapingTest {

    /** True when {@code bytes} hold a control byte other than line feed and tab. */
    private static boolean hasRawControl(byte[] bytes) {
        for (byte b : bytes) {
            int c = b & 0xff;
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
                return true;
            }
        }
        return false;
    }

    @Test
    void outputAndErrorAreWrittenWithControlCharactersEscaped(@TempDir Path dir) throws Exception {
        ResponseFiles rf = new ResponseFiles(new HiveLayout(dir));
        Instant now = Instant.parse("2025-01-01T10:00:00.123Z");
        TaskResponse r = new TaskResponse("T-1", "BOT-001", TaskStatus.FAILED, 1, now, now, 0, 1, "command", null, null,
                null, null, "nul\0 esc\u001b[31mred\u001b[0m cr\r del\u007f c1\u009b tab\tend\nline two",
                "bell\u0007 in the error", null);
        Path file = rf.write(r, null, null);
        byte[] bytes = Files.readAllBytes(file);
        assertTrue(!hasRawControl(bytes), "no raw control byte in " + file);
        String text = Files.readString(file);
        assertTrue(text.contains("nul\\u0000 esc\\u001b[31mred\\u001b[0m cr\\u000d del\\u007f c1\\u009b tab\tend\nline two"), text);
        assertTrue(text.contains("bell\\u0007 in the error"), text);
        // deia's own task parser, which refuses NUL, reads it (a response can be handed on as a task).
        Task asTask = new TaskFileParser(1024 * 1024).parse(file, "T-1.md");
        assertTrue(asTask.prompt().contains("nul\\u0000"));
        TaskResponse back = rf.read("BOT-001", "T-1").orElseThrow();
        assertEquals("bell\\u0007 in the error", back.error());
        assertEquals("plain text\n", ControlFree.format("plain text\n"), "text without control characters is unchanged");
    }

    @Test
    void anAgentPrintingNulAndEscapesGetsAReadableResponse(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 1, 0))) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: binary\n---\nprintf 'a\\000b\\033[2Jc\\n'\n");
            await().atMost(Duration.ofSeconds(30)).until(() -> hive.queue.response(TaskTestHive.BOT, "binary").isPresent());
        }
        Path file = hive.layout.responsesDir(TaskTestHive.BOT).resolve("binary.response.md");
        assertTrue(!hasRawControl(Files.readAllBytes(file)));
        assertEquals("a\\u0000b\\u001b[2Jc", hive.queue.response(TaskTestHive.BOT, "binary").orElseThrow().output());
    }

    /** The body text {@link ResponseFiles#format} writes for an output, for the unchanged-text check. */
    private static final class ControlFree {
        static String format(String output) {
            Instant t = Instant.EPOCH;
            String all = ResponseFiles.format(new TaskResponse("T", "B", TaskStatus.COMPLETED, 1, t, t, 0, 0, "a", null,
                    null, null, null, output, null, null), null, null);
            return all.substring(all.indexOf("\n---\n\n") + 6);
        }
    }
}
