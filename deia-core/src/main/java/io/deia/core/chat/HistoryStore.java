package io.deia.core.chat;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.ControlChars;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Per-bot chat history: one append-only JSON-lines file per bot ({@link HiveLayout#historyFile}).
 * Every line carries a {@code seq} that increases by one per message of that bot.
 *
 * <p>Each append is written with one {@code write} on a file opened in append mode and forced to
 * disk before {@link #append} returns, so an acknowledged message survives a crash. A crash in the
 * middle of a write can leave a partial last line; opening the history detects it (no trailing
 * newline, or not valid JSON), logs it and truncates the file back to the last complete line, so
 * every earlier message is kept. The whole history file is not rewritten, ever: that is why this
 * class appends with a {@link FileChannel} instead of going through {@link AtomicFiles#write}.
 *
 * <p><b>Size.</b> A history file that an append would grow past {@code maxBytes}
 * ({@code history_max_bytes}, see {@link DeiaConfig#historyMaxBytes()}) is first renamed to
 * {@code <BOT-ID>.jsonl.1} (replacing the older one) and a new file started; sequence numbers go
 * on from the rotated file's last one. {@link #read} pages through the current file only. Text is
 * stored with its control characters escaped (see {@link ControlChars}).
 *
 * <p>Thread-safe: appends and reads of one bot are serialised on that bot's log; bots are
 * independent.
 */
public final class HistoryStore implements AutoCloseable {
    /** Largest page {@link #read} returns. */
    public static final int MAX_PAGE = 500;

    private final HiveLayout hive;
    private final long maxBytes;
    private final Map<String, HistoryFile> logs = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /**
     * A store of {@code hive}'s histories (after {@link HiveGuard#check} of the hive) whose files
     * rotate at {@link DeiaConfig#DEFAULT_HISTORY_MAX_BYTES}.
     */
    public HistoryStore(HiveLayout hive) {
        this(hive, DeiaConfig.DEFAULT_HISTORY_MAX_BYTES);
    }

    /** @param maxBytes size past which a bot's history file is rotated ({@code history_max_bytes}) */
    public HistoryStore(HiveLayout hive, long maxBytes) {
        this.hive = HiveGuard.check(Objects.requireNonNull(hive, "hive"));
        if (maxBytes < 4096) {
            throw DeiaException.invalid("history_max_bytes must be at least 4096, was %d", maxBytes);
        }
        this.maxBytes = maxBytes;
    }

    /** The hive whose history this is. */
    public HiveLayout hive() {
        return hive;
    }

    /**
     * One message of a conversation.
     *
     * @param seq         position in the bot's history, from 1
     * @param ts          when it was recorded
     * @param role        {@code user}, {@code assistant}, {@code error} or {@code permission}
     * @param text        the message text (for {@code error}: the reason; for {@code permission}: what the
     *                    agent asked, or who decided what)
     * @param clientMsgId the id the client gave the user message; replies carry the same id; a
     *                    {@code permission} entry carries the request id
     * @param costUsd     cost reported for the turn (assistant messages only)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Entry(long seq, Instant ts, String role, String text, String clientMsgId, Double costUsd) {
        public Entry {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(text, "text");
        }
    }

    /**
     * One page of history, newest message first.
     *
     * @param messages   at most the limit asked for
     * @param nextBefore pass as {@code before} to read the next (older) page; null when there is none
     */
    public record Page(List<Entry> messages, Long nextBefore) {
    }

    /** Message roles. */
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";
    public static final String ERROR = "error";
    /** An agent's permission request, or its decision (who, what, when): the audit trail of approvals. */
    public static final String PERMISSION = "permission";

    /**
     * Appends a message durably and returns it with its sequence number.
     *
     * @throws DeiaException for an invalid bot id or an I/O failure
     */
    public Entry append(String botId, String role, String text, String clientMsgId, Double costUsd) {
        return logOf(botId).append(role, text, clientMsgId, costUsd);
    }

    /**
     * Reads up to {@code limit} messages with {@code seq < before} (all when {@code before} is null),
     * newest first. A bot without a history gets an empty page; no file is created for it.
     */
    public Page read(String botId, Long before, int limit) {
        if (limit < 1 || limit > MAX_PAGE) {
            throw DeiaException.invalid("limit must be 1..%d, was %d", MAX_PAGE, limit);
        }
        if (before != null && before < 1) {
            throw DeiaException.invalid("before must be >= 1, was %d", before);
        }
        HistoryFile open = openLogOrNull(botId);
        return open == null ? new Page(List.of(), null) : open.read(before, limit);
    }

    /** The sequence number of the newest message of the bot, 0 when it has none. */
    public long lastSeq(String botId) {
        HistoryFile open = openLogOrNull(botId);
        return open == null ? 0 : open.lastSeq();
    }

    /** Closes every open history file. Later calls fail. */
    @Override
    public void close() {
        closed = true;
        logs.values().forEach(HistoryFile::close);
        logs.clear();
    }

    /**
     * The bot's log when it has a history; null (nothing created, nothing opened) when it has none.
     * Reading never creates a file: a reader asking about any well-formed id must not leave a file
     * and two open descriptors behind per id.
     */
    private HistoryFile openLogOrNull(String botId) {
        Path file = hive.historyFile(requireOpen(botId));
        // A rotated file alone is a history too: its last seq is where numbering goes on.
        if (!logs.containsKey(botId) && !Files.exists(file, LinkOption.NOFOLLOW_LINKS)
                && !Files.exists(file.resolveSibling(file.getFileName() + ".1"), LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        return logOf(botId);
    }

    private HistoryFile logOf(String botId) {
        return logs.computeIfAbsent(requireOpen(botId), id -> new HistoryFile(id, hive, maxBytes));
    }

    private String requireOpen(String botId) {
        BotIds.requireValid(botId);
        if (closed) {
            throw DeiaException.unavailable("history store is closed");
        }
        return botId;
    }
}
