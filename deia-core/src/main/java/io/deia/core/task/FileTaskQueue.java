package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The hive-folder {@link TaskQueue}: what the {@code task submit} command, the controller and any
 * other writer use to hand work to a bot without talking to it.
 *
 * <p>{@link #submit} validates the bot id, the size and the task text (the same parser the bot
 * uses), gives the task a {@code task_id} in its front matter when it has none (so the bot answers
 * under the id the submitter was told), writes the file durably in {@code hive/staging/}, and then
 * links it into {@code hive/tasks/<BOT-ID>/<task-id>.md} in one step: the inbox never holds a partial
 * file, and an existing inbox file is never replaced (a clashing name gets {@code -2}, {@code -3}, …).
 */
public final class FileTaskQueue implements TaskQueue {
    private static final Logger log = LoggerFactory.getLogger(FileTaskQueue.class);

    private final HiveLayout layout;
    private final TaskFileParser parser;
    private final ResponseFiles responses;

    public FileTaskQueue(HiveLayout layout, DeiaConfig config) {
        this.layout = HiveGuard.check(layout);
        this.parser = new TaskFileParser(config.maxTaskBytes());
        this.responses = new ResponseFiles(layout);
    }

    @Override
    public String submit(String botId, String markdown) {
        BotIds.requireValid(botId);
        if (markdown == null) {
            throw new TaskFileException(TaskFileException.Reason.EMPTY, "the task is empty");
        }
        byte[] raw = markdown.getBytes(StandardCharsets.UTF_8);
        if (raw.length > parser.maxBytes()) {
            throw new TaskFileException(TaskFileException.Reason.TOO_LARGE,
                    "the task is " + raw.length + " bytes; the limit (max_task_bytes) is " + parser.maxBytes());
        }
        TaskFileParser.decode(raw, "the task");
        String text = markdown;
        if (!parser.declaresTaskId(text, "the task")) {
            text = TaskFileParser.withTaskId(text, TaskIds.generate());
        }
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > parser.maxBytes()) {
            throw new TaskFileException(TaskFileException.Reason.TOO_LARGE,
                    "the task is " + bytes.length + " bytes with its task_id; the limit (max_task_bytes) is " + parser.maxBytes());
        }
        Task task = parser.parseText(text, "the task", Instant.now());
        Path staged = layout.stagingDir().resolve(AtomicFiles.TEMP_PREFIX + "submit-" + botId + "-" + task.taskId() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".md");
        Path inbox = layout.inboxDir(botId);
        try {
            HiveGuard.dir(layout, layout.stagingDir());
            HiveGuard.dir(layout, inbox);
            AtomicFiles.write(staged, bytes);
            Path target = linkUnique(staged, inbox, task.taskId());
            AtomicFiles.fsyncDirectory(inbox);
            log.info("[{}] task {} submitted as {}", botId, task.taskId(), target.getFileName());
            return task.taskId();
        } catch (IOException e) {
            throw DeiaException.io("cannot submit task to", inbox, e);
        } finally {
            try {
                Files.deleteIfExists(staged);
            } catch (IOException e) {
                log.warn("[{}] cannot remove staged task {}: {}", botId, staged, e.toString());
            }
        }
    }

    /** A hard link appears whole and fails when the name exists, so no inbox file is ever replaced. */
    private static Path linkUnique(Path staged, Path inbox, String taskId) throws IOException {
        for (int n = 1; ; n++) {
            Path target = inbox.resolve((n == 1 ? taskId : taskId + "-" + n) + ".md");
            try {
                Files.createLink(target, staged);
                return target;
            } catch (FileAlreadyExistsException e) {
                if (n > 10_000) {
                    throw e;
                }
            } catch (UnsupportedOperationException e) {
                if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    AtomicFiles.move(staged, target);
                    return target;
                }
            }
        }
    }

    @Override
    public List<TaskInfo> pending(String botId) {
        BotIds.requireValid(botId);
        List<TaskInfo> running = new ArrayList<>();
        for (ClaimedTasks.Listed c : ClaimedTasks.listAll(layout, botId)) {
            Optional<Task> t = tryParse(c.file(), c.originalName());
            running.add(new TaskInfo(t.map(Task::taskId).orElse(TaskIds.fromFileName(c.originalName())), "running",
                    t.map(Task::priority).orElse(Task.DEFAULT_PRIORITY), c.attempts(), t.map(Task::createdAt).orElse(null)));
        }
        List<TaskInfo> queued = new ArrayList<>();
        Path inbox = layout.inboxDir(botId);
        if (HiveGuard.existingDir(layout, inbox)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(inbox)) {
                for (Path p : ds) {
                    String name = p.getFileName().toString();
                    if (name.startsWith(".")) {
                        continue;
                    }
                    Optional<Task> t = tryParse(p, name);
                    queued.add(new TaskInfo(t.map(Task::taskId).orElse(TaskIds.fromFileName(name)), "queued",
                            t.map(Task::priority).orElse(Task.DEFAULT_PRIORITY), 0,
                            t.map(Task::createdAt).orElseGet(() -> modified(p))));
                }
            } catch (IOException e) {
                throw DeiaException.io("cannot list", inbox, e);
            }
        }
        queued.sort(Comparator.comparingInt(TaskInfo::priority)
                .thenComparing(TaskInfo::createdAt, Comparator.nullsLast(Comparator.naturalOrder()))
                .thenComparing(TaskInfo::taskId));
        running.addAll(queued);
        return running;
    }

    @Override
    public Optional<TaskResponse> response(String botId, String taskId) {
        BotIds.requireValid(botId);
        return responses.read(botId, taskId);
    }

    @Override
    public List<TaskResponse> responses(String botId, int limit) {
        BotIds.requireValid(botId);
        if (limit < 0) {
            throw DeiaException.invalid("limit must be >= 0, was %d", limit);
        }
        return responseListing(botId, limit).responses();
    }

    @Override
    public ResponseListing responseListing(String botId, int limit) {
        BotIds.requireValid(botId);
        if (limit < 0) {
            throw DeiaException.invalid("limit must be >= 0, was %d", limit);
        }
        return responses.listing(botId, limit);
    }

    private Optional<Task> tryParse(Path file, String name) {
        try {
            return Optional.of(parser.parse(file, name));
        } catch (DeiaException e) {
            return Optional.empty();
        }
    }

    private static Instant modified(Path p) {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).lastModifiedTime().toInstant();
        } catch (IOException e) {
            return null;
        }
    }
}
