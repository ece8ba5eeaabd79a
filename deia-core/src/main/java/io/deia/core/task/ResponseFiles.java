package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.ControlChars;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.project.TaskChange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes and reads response files, {@code hive/responses/<BOT-ID>/<task-id>.response.md}:
 *
 * <pre>
 * ---
 * task_id: T-42
 * bot_id: BOT-001
 * status: completed
 * attempt: 1
 * started_at: 2025-01-01T10:00:00.123Z
 * finished_at: 2025-01-01T10:00:02.456Z
 * duration_ms: 2333
 * exit_code: 0
 * agent: claude-code
 * cost_usd: 0.0123
 * input_tokens: 1200
 * output_tokens: 80
 * session_id: 0b7c…
 * claim: o-4242-1735725600000-9f3a1c2e/7
 * task_file: "T-42.md"
 * project: shop
 * branch: deia/BOT-001/T-42
 * base_commit: 3f2a…
 * commit: 9c1e…
 * files_changed: 2
 * insertions: 14
 * deletions: 3
 * ---
 *
 * (the agent's output)
 *
 * ## Error
 *
 * (why it failed, only when there is a reason)
 * </pre>
 *
 * Absent values are left out; the project fields ({@link TaskChange}) are written only for a task
 * of a bot with a project, and {@code commit} only when the task changed something. {@code claim} names the claim that produced the response, so a bot
 * restarted after a crash can tell that a task it finds claimed already has its response and must
 * only be archived. A response is written once ({@link AtomicFiles#writeNew}); when its task id
 * already has one, the id gets the first free suffix {@code -2}, {@code -3}, … and the new file
 * carries that id. Nothing is ever overwritten. Control characters in the output and the error
 * (but line feed and tab) are written escaped, {@code \}{@code u0000} (see {@link ControlChars}).
 */
public final class ResponseFiles {
    private static final Logger log = LoggerFactory.getLogger(ResponseFiles.class);
    /** File name ending of every response. */
    public static final String SUFFIX = ".response.md";
    private static final String ERROR_HEADING = "\n## Error\n";
    /** Values written unquoted; anything else is a JSON string. */
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9._:+/@-]+");

    private final HiveLayout layout;

    public ResponseFiles(HiveLayout layout) {
        this.layout = layout;
    }

    /**
     * Writes {@code response} once, under its task id or the first free suffixed id.
     *
     * @param claim    the claim that produced it (see {@link TaskQueueMonitor}), or null
     * @param taskFile the name the task file arrived with, or null
     * @return the written file; its name gives the id actually used
     */
    public Path write(TaskResponse response, String claim, String taskFile) {
        Path dir = layout.responsesDir(response.botId());
        String base = response.taskId();
        if (!TaskIds.isValid(base)) {
            throw DeiaException.invalid("task id '%s' is invalid; expected %s", base, TaskIds.PATTERN);
        }
        for (int n = 1; n < 100_000; n++) {
            String id = n == 1 ? base : base + "-" + n;
            Path target = dir.resolve(id + SUFFIX);
            if (AtomicFiles.exists(target)) {
                continue;
            }
            TaskResponse named = n == 1 ? response : withTaskId(response, id);
            byte[] bytes = format(named, claim, taskFile).getBytes(StandardCharsets.UTF_8);
            if (AtomicFiles.writeNew(target, bytes)) {
                return target;
            }
        }
        throw DeiaException.conflict("task id %s has too many responses already", base);
    }

    /** The response file of one task id, when it exists. */
    public Optional<TaskResponse> read(String botId, String taskId) {
        if (!TaskIds.isValid(taskId)) {
            return Optional.empty();
        }
        Path file = layout.responsesDir(botId).resolve(taskId + SUFFIX);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        return Optional.of(parse(AtomicFiles.readString(file), layout.root().relativize(file).toString()));
    }

    /**
     * The response written for {@code claim}, looking at {@code taskId} and its suffixed ids.
     *
     * @return the response file, if this claim already has one
     */
    public Optional<Path> findByClaim(String botId, String taskId, String claim) {
        Path dir = layout.responsesDir(botId);
        for (int n = 1; n < 100_000; n++) {
            Path file = dir.resolve((n == 1 ? taskId : taskId + "-" + n) + SUFFIX);
            if (!Files.isRegularFile(file)) {
                if (n > 1) {
                    return Optional.empty();
                }
                continue;
            }
            Map<String, String> fields = frontMatter(AtomicFiles.readString(file), file.toString());
            if (claim.equals(fields.get("claim"))) {
                return Optional.of(file);
            }
        }
        return Optional.empty();
    }

    /**
     * A bot's responses, newest first (by finish time), at most {@code limit}, and the response
     * files that could not be read: each is logged and named (by file name only) instead of
     * failing the whole list, so one damaged or foreign file does not hide every other response.
     */
    public TaskQueue.ResponseListing listing(String botId, int limit) {
        Path dir = layout.responsesDir(botId);
        try {
            if (!HiveGuard.existingDir(layout, dir)) {
                return new TaskQueue.ResponseListing(List.of(), List.of());
            }
        } catch (DeiaException e) {
            if (Files.isSymbolicLink(dir)) {
                throw e; // a planted link is refused outright, as everywhere in the hive
            }
            // A plain file is where the responses belong (the bot cannot write them either, and says
            // so in its state): the listing reports it instead of failing.
            log.warn("[{}] cannot list responses: {}", botId, LogSafe.printable(e.getMessage()));
            return new TaskQueue.ResponseListing(List.of(), List.of(new TaskQueue.Skipped(
                    dir.getFileName().toString(), "the responses folder is not a plain folder of this hive")));
        }
        List<TaskResponse> all = new ArrayList<>();
        List<TaskQueue.Skipped> skipped = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (name.endsWith(SUFFIX) && !AtomicFiles.isTempFile(f)) {
                    try {
                        all.add(parse(AtomicFiles.readString(f), name));
                    } catch (RuntimeException e) {
                        // The message names the file by its name only: it goes to API clients.
                        String reason = LogSafe.printable(e instanceof DeiaException && e.getCause() == null ? e.getMessage()
                                : name + ": cannot read: " + (e.getCause() == null ? e : e.getCause()).getClass().getSimpleName(), 300);
                        log.warn("[{}] skipped unreadable response {}", botId, reason);
                        skipped.add(new TaskQueue.Skipped(LogSafe.printable(name), reason));
                    }
                }
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot list", dir, e);
        }
        all.sort(Comparator.comparing((TaskResponse r) -> r.finishedAt() == null ? Instant.EPOCH : r.finishedAt()).reversed());
        List<TaskResponse> page = all.size() > limit ? List.copyOf(all.subList(0, Math.max(0, limit))) : all;
        return new TaskQueue.ResponseListing(page, skipped);
    }

    /** The text of a response file. */
    public static String format(TaskResponse r, String claim, String taskFile) {
        StringBuilder sb = new StringBuilder("---\n");
        field(sb, "task_id", r.taskId());
        field(sb, "bot_id", r.botId());
        field(sb, "status", r.status() == null ? null : r.status().id());
        field(sb, "attempt", r.attempt());
        field(sb, "started_at", r.startedAt() == null ? null : Json.formatInstant(r.startedAt()));
        field(sb, "finished_at", r.finishedAt() == null ? null : Json.formatInstant(r.finishedAt()));
        field(sb, "duration_ms", r.durationMs());
        field(sb, "exit_code", r.exitCode());
        field(sb, "agent", r.agent());
        field(sb, "cost_usd", r.costUsd());
        field(sb, "input_tokens", r.inputTokens());
        field(sb, "output_tokens", r.outputTokens());
        field(sb, "session_id", r.sessionId());
        field(sb, "claim", claim);
        field(sb, "task_file", taskFile);
        TaskChange c = r.change();
        if (c != null) {
            field(sb, "project", c.project());
            field(sb, "branch", c.branch());
            field(sb, "base_commit", c.baseCommit());
            field(sb, "commit", c.commit());
            field(sb, "files_changed", c.filesChanged());
            field(sb, "insertions", c.insertions());
            field(sb, "deletions", c.deletions());
        }
        sb.append("---\n\n");
        // An agent may print NUL or terminal escapes: stored escaped (see ControlChars).
        String output = r.output() == null ? "" : ControlChars.escape(r.output());
        sb.append(output);
        if (!output.isEmpty() && !output.endsWith("\n")) {
            sb.append('\n');
        }
        if (r.error() != null) {
            String error = ControlChars.escape(r.error());
            sb.append(ERROR_HEADING).append('\n').append(error);
            if (!error.endsWith("\n")) {
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    /**
     * Reads a response file's text back.
     *
     * @throws DeiaException {@code UNPROCESSABLE} when it has no front matter or a bad field
     */
    public static TaskResponse parse(String text, String source) {
        Map<String, String> f = frontMatter(text, source);
        String rest = text.substring(text.indexOf("\n---\n", 3) + 5);
        if (rest.startsWith("\n")) {
            rest = rest.substring(1);
        }
        String output = rest;
        String error = null;
        TaskStatus status;
        try {
            status = f.get("status") == null ? null : TaskStatus.fromId(f.get("status"));
        } catch (IllegalArgumentException e) {
            throw DeiaException.unprocessable("%s: unknown status '%s'", source, f.get("status"));
        }
        int err = rest.lastIndexOf(ERROR_HEADING);
        if (err >= 0 && status != TaskStatus.COMPLETED) {
            output = rest.substring(0, err);
            error = rest.substring(err + ERROR_HEADING.length()).strip();
        }
        if (output.endsWith("\n")) {
            output = output.substring(0, output.length() - 1);
        }
        try {
            return new TaskResponse(f.get("task_id"), f.get("bot_id"), status,
                    f.get("attempt") == null ? 0 : Integer.parseInt(f.get("attempt")),
                    f.get("started_at") == null ? null : Instant.parse(f.get("started_at")),
                    f.get("finished_at") == null ? null : Instant.parse(f.get("finished_at")),
                    f.get("duration_ms") == null ? 0 : Long.parseLong(f.get("duration_ms")),
                    f.get("exit_code") == null ? null : Integer.valueOf(f.get("exit_code")),
                    f.get("agent"),
                    f.get("cost_usd") == null ? null : Double.valueOf(f.get("cost_usd")),
                    f.get("input_tokens") == null ? null : Long.valueOf(f.get("input_tokens")),
                    f.get("output_tokens") == null ? null : Long.valueOf(f.get("output_tokens")),
                    f.get("session_id"), output, error, change(f));
        } catch (RuntimeException e) {
            throw DeiaException.unprocessable("%s: bad response field: %s", source, e.getMessage());
        }
    }

    /** The project fields of a response, or null when it has none (a bot without a project). */
    private static TaskChange change(Map<String, String> f) {
        if (f.get("branch") == null) {
            return null;
        }
        return new TaskChange(f.get("project"), f.get("branch"), f.get("base_commit"), f.get("commit"),
                count(f, "files_changed"), count(f, "insertions"), count(f, "deletions"));
    }

    private static int count(Map<String, String> f, String key) {
        return f.get(key) == null ? 0 : Integer.parseInt(f.get(key));
    }

    private static Map<String, String> frontMatter(String text, String source) {
        if (!text.startsWith("---\n")) {
            throw DeiaException.unprocessable("%s has no front matter", source);
        }
        int end = text.indexOf("\n---\n", 3);
        if (end < 0) {
            throw DeiaException.unprocessable("%s: front matter not closed", source);
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (String line : text.substring(4, end + 1).split("\n")) {
            int colon = line.indexOf(": ");
            if (colon <= 0) {
                continue;
            }
            String value = line.substring(colon + 2);
            if (value.startsWith("\"")) {
                value = Json.read(value, String.class, source);
            }
            fields.put(line.substring(0, colon), value);
        }
        return fields;
    }

    private static void field(StringBuilder sb, String key, Object value) {
        if (value == null) {
            return;
        }
        String v = value.toString();
        sb.append(key).append(": ").append(PLAIN.matcher(v).matches() ? v : Json.write(v)).append('\n');
    }

    private static TaskResponse withTaskId(TaskResponse r, String id) {
        return new TaskResponse(id, r.botId(), r.status(), r.attempt(), r.startedAt(), r.finishedAt(), r.durationMs(),
                r.exitCode(), r.agent(), r.costUsd(), r.inputTokens(), r.outputTokens(), r.sessionId(), r.output(),
                r.error(), r.change());
    }
}
