package io.deia.core.agent;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A Gemini session file named after the current minute is renamed before a load; nothing else is touched. */
class GeminiSessionFilesTest {
    private static final String ID = "1614f0e9-f946-4536-a251-7b2cfa3eff90";
    private static final Clock AT_22_48_30 = Clock.fixed(Instant.parse("2026-12-07T22:48:30Z"), ZoneOffset.UTC);

    @TempDir
    Path home;

    private Path chats() throws Exception {
        return Files.createDirectories(home.resolve(".gemini/tmp/workspace/chats"));
    }

    private List<String> names() throws Exception {
        try (Stream<Path> s = Files.list(chats())) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFileOfTheCurrentMinuteMovesToTheMinuteBefore() throws Exception {
        Files.writeString(chats().resolve("session-2026-12-07T22-48-1614f0e9.jsonl"), "{\"sessionId\":\"" + ID + "\"}\n");
        Files.writeString(chats().resolve("session-2026-12-07T22-48-0acd8680.jsonl"), "other session\n");
        assertEquals(1, GeminiSessionFiles.unpinFromCurrentMinute("BOT-001", home, ID, AT_22_48_30));
        assertEquals(List.of("session-2026-12-07T22-47-1614f0e9.jsonl", "session-2026-12-07T22-48-0acd8680.jsonl"), names());
        assertEquals("{\"sessionId\":\"" + ID + "\"}\n", Files.readString(chats().resolve("session-2026-12-07T22-47-1614f0e9.jsonl")));
    }

    @Test
    void olderFilesAndMissingFoldersAreLeftAlone() throws Exception {
        assertEquals(0, GeminiSessionFiles.unpinFromCurrentMinute("BOT-001", home, ID, AT_22_48_30));
        Files.writeString(chats().resolve("session-2026-12-07T22-47-1614f0e9.jsonl"), "x\n");
        assertEquals(0, GeminiSessionFiles.unpinFromCurrentMinute("BOT-001", home, ID, AT_22_48_30));
        assertEquals(0, GeminiSessionFiles.unpinFromCurrentMinute("BOT-001", home, null, AT_22_48_30));
        assertEquals(List.of("session-2026-12-07T22-47-1614f0e9.jsonl"), names());
    }
}
