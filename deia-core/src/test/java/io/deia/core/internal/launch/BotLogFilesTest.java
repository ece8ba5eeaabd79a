package io.deia.core.internal.launch;

import io.deia.core.internal.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotLogFilesTest {
    @TempDir
    Path dir;

    @Test
    void rotatesOnlyWhenLargerThanTheLimit() throws Exception {
        Path log = dir.resolve("BOT-1.log");
        assertFalse(BotLogFiles.rotateIfLarger(log, 10), "no log yet");
        AtomicFiles.writeString(log, "0123456789");
        assertFalse(BotLogFiles.rotateIfLarger(log, 10));
        AtomicFiles.writeString(log, "0123456789A");
        assertTrue(BotLogFiles.rotateIfLarger(log, 10));
        assertFalse(Files.exists(log));
        assertEquals("0123456789A", Files.readString(dir.resolve("BOT-1.log.1")));
        AtomicFiles.writeString(log, "second generation, long enough");
        assertTrue(BotLogFiles.rotateIfLarger(log, 10));
        assertEquals("second generation, long enough", Files.readString(dir.resolve("BOT-1.log.1")), "older .1 replaced");
    }

    @Test
    void tailReturnsTheLastLinesEvenOfALargeLogWithBrokenBytes() throws Exception {
        Path log = dir.resolve("BOT-1.log");
        assertEquals("", BotLogFiles.tail(log, 20));
        String text = IntStream.range(0, 5000).mapToObj(i -> "line " + i).collect(Collectors.joining("\n")) + "\n";
        byte[] body = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] bytes = new byte[body.length + 2];
        bytes[0] = (byte) 0xC3;
        bytes[1] = (byte) 0x28;
        System.arraycopy(body, 0, bytes, 2, body.length);
        AtomicFiles.write(log, bytes);
        String tail = BotLogFiles.tail(log, 3);
        assertEquals("line 4997\nline 4998\nline 4999", tail);
    }
}
