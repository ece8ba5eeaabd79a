package io.deia.core.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Keeps a Gemini session loadable across a restart of its process. The pinned CLI records a
 * session in {@code ~/.gemini/tmp/<project>/chats/session-<yyyy-MM-ddTHH-mm>-<first 8 of id>.jsonl}
 * (the minute in UTC); {@code session/load} first starts a fresh record named after the current
 * minute, and when that is the same minute as the session's own file it lands in that file and
 * makes the session unloadable ("No previous sessions found"). So a file named after the current
 * minute is renamed to the minute before, before the new process loads it. Only the name changes:
 * the CLI finds sessions by the id inside.
 */
final class GeminiSessionFiles {
    private static final Logger log = LoggerFactory.getLogger(GeminiSessionFiles.class);
    private static final Pattern NAME = Pattern.compile("session-(\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2})-([0-9A-Za-z_-]{1,8})\\.jsonl?");
    private static final DateTimeFormatter MINUTE = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH-mm");

    private GeminiSessionFiles() {
    }

    /**
     * Renames {@code sessionId}'s files under {@code home} named after the current minute (or a
     * later one) to the minute before the current one.
     *
     * @return how many files were renamed
     */
    static int unpinFromCurrentMinute(String botId, Path home, String sessionId, Clock clock) {
        Path tmp = home.resolve(".gemini").resolve("tmp");
        if (sessionId == null || sessionId.length() < 8 || !Files.isDirectory(tmp)) {
            return 0;
        }
        String shortId = sessionId.substring(0, 8);
        LocalDateTime now = LocalDateTime.now(clock.withZone(ZoneOffset.UTC)).withSecond(0).withNano(0);
        String earlier = now.minusMinutes(1).format(MINUTE);
        int renamed = 0;
        try (DirectoryStream<Path> projects = Files.newDirectoryStream(tmp)) {
            for (Path project : projects) {
                Path chats = project.resolve("chats");
                if (!Files.isDirectory(chats)) {
                    continue;
                }
                try (DirectoryStream<Path> files = Files.newDirectoryStream(chats, "session-*-" + shortId + ".json*")) {
                    for (Path f : files) {
                        Matcher m = NAME.matcher(f.getFileName().toString());
                        if (m.matches() && !minuteOf(m.group(1)).isBefore(now)) {
                            Path to = chats.resolve(f.getFileName().toString().replace(m.group(1), earlier));
                            if (!Files.exists(to)) {
                                Files.move(f, to, StandardCopyOption.ATOMIC_MOVE);
                                renamed++;
                                log.info("[{}] renamed gemini session file {} to {} so that loading it keeps it", botId,
                                        f.getFileName(), to.getFileName());
                            }
                        }
                    }
                }
            }
        } catch (IOException e) {
            log.warn("[{}] cannot prepare gemini session {} for loading: {}", botId, sessionId, e.toString());
        }
        return renamed;
    }

    private static LocalDateTime minuteOf(String text) {
        try {
            return LocalDateTime.parse(text, MINUTE);
        } catch (DateTimeParseException e) {
            return LocalDateTime.MIN;
        }
    }
}
