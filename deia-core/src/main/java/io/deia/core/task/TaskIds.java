package io.deia.core.task;

import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Task ids become response and archive file names, so they are restricted to a safe form:
 * {@code ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$}. Ids taken from odd file names (spaces, unicode,
 * punctuation) are made safe with {@link #fromFileName}.
 */
public final class TaskIds {
    /** The accepted form of a task id. */
    public static final String PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

    private static final Pattern VALID = Pattern.compile(PATTERN);
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmssSSS'Z'").withZone(ZoneOffset.UTC);

    private TaskIds() {
    }

    /** True when {@code id} may be used as a task id. */
    public static boolean isValid(String id) {
        return id != null && VALID.matcher(id).matches();
    }

    /** A new id, {@code TASK-<utc timestamp>-<random>}, sortable by creation time. */
    public static String generate() {
        return "TASK-" + STAMP.format(Instant.now()) + "-"
                + String.format("%08x", ThreadLocalRandom.current().nextInt());
    }

    /**
     * The task id for a file without a readable {@code task_id}: its name without {@code .md},
     * with every character outside {@code [A-Za-z0-9._-]} replaced by {@code _} (so spaces,
     * unicode and separators cannot reach a file name), at most 128 characters.
     */
    public static String fromFileName(String fileName) {
        String base = fileName.endsWith(".md") ? fileName.substring(0, fileName.length() - 3) : fileName;
        // Java regexes match a code point (not half of a surrogate pair) per character class.
        String id = base.replaceAll("[^A-Za-z0-9._-]", "_").replaceFirst("^[._-]+", "");
        id = id.length() > 128 ? id.substring(0, 128) : id;
        return id.isEmpty() ? "task" : id;
    }
}
