package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.internal.io.Utf8;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads task files: UTF-8 Markdown (a leading BOM accepted) with optional front matter between
 * {@code ---} lines, or the bold fields of files written by the original DEIA:
 *
 * <pre>
 * ---                                  **Task ID:** T-42
 * task_id: T-42                        **From:** BOT-000
 * from: BOT-000                        **To:** BOT-001
 * to: BOT-001                          **Priority:** P1
 * priority: P1                         **Timeout:** 120 seconds
 * timeout: 120
 * created_at: 2025-01-01T10:00:00Z     Write the release notes.
 * ---
 * Write the release notes.
 * </pre>
 *
 * With front matter the prompt is the body after it; a bold-field file is its own prompt (the
 * fields are part of the Markdown the agent reads). Refusals are {@link TaskFileException}s whose
 * {@link TaskFileException.Reason} says what is wrong. Instances are immutable and thread-safe.
 */
public final class TaskFileParser {
    private static final Pattern FRONT_MATTER_LINE = Pattern.compile("^([A-Za-z_][A-Za-z0-9_-]*)\\s*:\\s*(.*)$");
    private static final Pattern BOLD_FIELD = Pattern.compile("^\\s*\\*\\*([A-Za-z][A-Za-z ]{0,20}?)\\s*(?::\\*\\*|\\*\\*\\s*:)\\s*(.*?)\\s*$");
    private static final Pattern LEADING_INT = Pattern.compile("^(\\d{1,9})\\s*([A-Za-z]*)");

    private final int maxBytes;

    /** @param maxBytes files larger than this are refused ({@code config.maxTaskBytes()}) */
    public TaskFileParser(int maxBytes) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes must be > 0");
        }
        this.maxBytes = maxBytes;
    }

    /** The size limit this parser enforces. */
    public int maxBytes() {
        return maxBytes;
    }

    /**
     * Reads and parses a file from an inbox. Symbolic links are never followed, folders and other
     * non-regular files are refused, and at most {@code maxBytes + 1} bytes are read.
     *
     * @param file     where the file is now (it may have been renamed since it arrived)
     * @param fileName the name it arrived with, used for the task id when none is declared
     * @throws TaskFileException when it cannot be a task
     */
    public Task parse(Path file, String fileName) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new TaskFileException(TaskFileException.Reason.UNREADABLE, "cannot read " + fileName + ": " + e);
        }
        if (attrs.isSymbolicLink()) {
            throw new TaskFileException(TaskFileException.Reason.NOT_A_FILE,
                    fileName + " is a symbolic link; links are never followed, write the task file itself");
        }
        if (attrs.isDirectory()) {
            throw new TaskFileException(TaskFileException.Reason.NOT_A_FILE, fileName + " is a folder, not a task file");
        }
        if (!attrs.isRegularFile()) {
            throw new TaskFileException(TaskFileException.Reason.NOT_A_FILE, fileName + " is not a regular file");
        }
        if (!fileName.endsWith(".md")) {
            throw new TaskFileException(TaskFileException.Reason.BAD_NAME,
                    fileName + " does not end in .md; task files are Markdown named <something>.md");
        }
        if (attrs.size() > maxBytes) {
            throw tooLarge(fileName, attrs.size());
        }
        byte[] bytes = readBounded(file, fileName);
        return parse(bytes, fileName, attrs.lastModifiedTime().toInstant());
    }

    /**
     * Parses a task file's bytes.
     *
     * @param fileName names the file in errors and gives the task id when none is declared
     * @param fileTime the file's modification time: {@code created_at} when it declares none
     */
    public Task parse(byte[] bytes, String fileName, Instant fileTime) {
        if (bytes.length > maxBytes) {
            throw tooLarge(fileName, bytes.length);
        }
        return parseText(decode(bytes, fileName), fileName, fileTime);
    }

    /** Parses text already decoded; see {@link #parse(byte[], String, Instant)}. */
    public Task parseText(String text, String fileName, Instant fileTime) {
        Header h = header(text, fileName);
        String prompt = h.body.strip();
        if (prompt.isEmpty()) {
            throw new TaskFileException(TaskFileException.Reason.EMPTY, fileName + " has no prompt: the task text is empty");
        }
        String taskId = h.taskId != null ? h.taskId : TaskIds.fromFileName(fileName);
        Instant created = h.createdAt != null ? h.createdAt : fileTime;
        return new Task(taskId, h.from, h.to, h.priority, h.timeout, created, prompt);
    }

    /**
     * True when the text declares its own task id (front matter {@code task_id} or a bold
     * {@code **Task ID:**} field).
     *
     * @throws TaskFileException when the front matter does not parse
     */
    public boolean declaresTaskId(String text, String source) {
        return header(text, source).taskId != null;
    }

    /**
     * The same task file with {@code task_id} set in its front matter (added to existing front
     * matter, or a new front matter block in front of the text).
     */
    public static String withTaskId(String text, String taskId) {
        if (!TaskIds.isValid(taskId)) {
            throw DeiaException.invalid("task id '%s' is invalid; expected %s", taskId, TaskIds.PATTERN);
        }
        String body = text.startsWith("\uFEFF") ? text.substring(1) : text;
        List<String> lines = body.lines().toList();
        if (!lines.isEmpty() && lines.get(0).strip().equals("---")) {
            int nl = body.indexOf('\n');
            return "---\ntask_id: " + taskId + "\n" + body.substring(nl + 1);
        }
        return "---\ntask_id: " + taskId + "\n---\n" + body;
    }

    /**
     * Decodes bytes after the binary and UTF-8 checks.
     *
     * @throws TaskFileException EMPTY, BINARY or INVALID_UTF8
     */
    static String decode(byte[] bytes, String fileName) {
        if (bytes.length == 0) {
            throw new TaskFileException(TaskFileException.Reason.EMPTY, fileName + " is empty (0 bytes)");
        }
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                throw new TaskFileException(TaskFileException.Reason.BINARY,
                        fileName + " is binary (NUL byte at offset " + i + "); task files are UTF-8 Markdown");
            }
        }
        try {
            return Utf8.decodeStrict(bytes, fileName);
        } catch (DeiaException e) {
            throw new TaskFileException(TaskFileException.Reason.INVALID_UTF8, e.getMessage());
        }
    }

    private TaskFileException tooLarge(String fileName, long size) {
        return new TaskFileException(TaskFileException.Reason.TOO_LARGE,
                fileName + " is " + size + " bytes; the limit (max_task_bytes) is " + maxBytes);
    }

    private byte[] readBounded(Path file, String fileName) {
        // NOFOLLOW: a link swapped in after the attribute check is refused by open(2) itself.
        try (InputStream in = Files.newInputStream(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            byte[] bytes = in.readNBytes(maxBytes + 1);
            if (bytes.length > maxBytes) {
                throw tooLarge(fileName, bytes.length);
            }
            return bytes;
        } catch (IOException e) {
            throw new TaskFileException(TaskFileException.Reason.UNREADABLE, "cannot read " + fileName + ": " + e);
        }
    }

    private static Header header(String text, String fileName) {
        String t = text.startsWith("\uFEFF") ? text.substring(1) : text;
        List<String> lines = t.lines().toList();
        Header h = new Header();
        if (!lines.isEmpty() && lines.get(0).strip().equals("---")) {
            int close = -1;
            for (int i = 1; i < lines.size(); i++) {
                String s = lines.get(i).strip();
                if (s.equals("---") || s.equals("...")) {
                    close = i;
                    break;
                }
            }
            if (close < 0) {
                throw badFrontMatter(fileName, "no closing '---' line");
            }
            for (int i = 1; i < close; i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                Matcher m = FRONT_MATTER_LINE.matcher(line);
                if (!m.matches()) {
                    throw badFrontMatter(fileName, "line " + (i + 1) + " is not 'key: value'");
                }
                apply(h, m.group(1).toLowerCase(Locale.ROOT), unquote(m.group(2).strip()), fileName, true);
            }
            h.body = String.join("\n", lines.subList(close + 1, lines.size()));
            return h;
        }
        for (String line : lines) {
            Matcher m = BOLD_FIELD.matcher(line);
            if (!m.matches()) {
                continue;
            }
            String key = switch (m.group(1).strip().toLowerCase(Locale.ROOT)) {
                case "task id", "task", "id" -> "task_id";
                case "from" -> "from";
                case "to" -> "to";
                case "priority" -> "priority";
                case "timeout" -> "timeout";
                case "created", "created at", "date" -> "created_at";
                default -> null;
            };
            if (key != null) {
                // Original-DEIA files are free text: a field we cannot read keeps its default.
                apply(h, key, m.group(2), fileName, false);
            }
        }
        h.body = t;
        return h;
    }

    private static void apply(Header h, String key, String value, String fileName, boolean strict) {
        try {
            switch (key) {
                case "task_id" -> {
                    String id = value.strip();
                    if (id.isEmpty()) {
                        return;
                    }
                    if (!TaskIds.isValid(id)) {
                        throw badFrontMatter(fileName, "task_id '" + printable(id) + "' is invalid; expected " + TaskIds.PATTERN);
                    }
                    h.taskId = id;
                }
                case "from" -> h.from = value.isBlank() ? null : value.strip();
                case "to" -> h.to = value.isBlank() ? null : value.strip();
                case "priority" -> h.priority = priority(value, fileName);
                case "timeout" -> h.timeout = timeout(value, fileName);
                case "created_at" -> h.createdAt = instant(value, fileName);
                default -> {
                }
            }
        } catch (TaskFileException e) {
            if (strict) {
                throw e;
            }
        }
    }

    /** P0..P3, 0..3, or the words urgent/critical, high, normal/medium, low. */
    static int priority(String value, String fileName) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        int space = v.indexOf(' ');
        String word = space > 0 ? v.substring(0, space) : v;
        return switch (word) {
            case "p0", "0", "critical", "urgent" -> 0;
            case "p1", "1", "high" -> 1;
            case "p2", "2", "normal", "medium" -> 2;
            case "p3", "3", "low" -> 3;
            default -> throw badFrontMatter(fileName, "priority '" + printable(value) + "' is not P0..P3");
        };
    }

    /** Seconds: {@code 120}, {@code 120s}, {@code 120 seconds}, {@code 2 minutes}. */
    static Duration timeout(String value, String fileName) {
        Matcher m = LEADING_INT.matcher(value.strip());
        if (m.find()) {
            long n = Long.parseLong(m.group(1));
            String unit = m.group(2).toLowerCase(Locale.ROOT);
            Duration d = switch (unit) {
                case "", "s", "sec", "secs", "second", "seconds" -> Duration.ofSeconds(n);
                case "m", "min", "mins", "minute", "minutes" -> Duration.ofMinutes(n);
                case "h", "hour", "hours" -> Duration.ofHours(n);
                default -> null;
            };
            if (d != null && n > 0) {
                return d;
            }
        }
        throw badFrontMatter(fileName, "timeout '" + printable(value) + "' is not a positive number of seconds");
    }

    /** An ISO-8601 instant, with an offset, or a UTC local time ({@code 2025-01-01 10:00:00}). */
    static Instant instant(String value, String fileName) {
        String v = value.strip();
        List<Function<String, Instant>> forms = List.of(Instant::parse, s -> OffsetDateTime.parse(s).toInstant(),
                s -> LocalDateTime.parse(s.replace(' ', 'T')).toInstant(ZoneOffset.UTC));
        for (Function<String, Instant> form : forms) {
            try {
                return form.apply(v);
            } catch (DateTimeParseException e) {
                // try the next form
            }
        }
        throw badFrontMatter(fileName, "created_at '" + printable(v) + "' is not an ISO-8601 time");
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && ((v.startsWith("\"") && v.endsWith("\"")) || (v.startsWith("'") && v.endsWith("'")))) {
            return v.substring(1, v.length() - 1);
        }
        return v;
    }

    private static TaskFileException badFrontMatter(String fileName, String why) {
        return new TaskFileException(TaskFileException.Reason.BAD_FRONT_MATTER, fileName + ": front matter unreadable: " + why);
    }

    private static String printable(String s) {
        return io.deia.core.internal.io.LogSafe.printable(s, 80);
    }

    private static final class Header {
        String taskId;
        String from;
        String to;
        int priority = Task.DEFAULT_PRIORITY;
        Duration timeout;
        Instant createdAt;
        String body = "";
    }
}
