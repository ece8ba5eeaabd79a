package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.LogSafe;

/**
 * A task file that cannot be run, with the reason as a type so callers can tell "empty" from
 * "binary" without matching messages. The monitor turns it into a {@code rejected} response;
 * {@link FileTaskQueue#submit} reports it to the submitter.
 */
final class TaskFileException extends DeiaException {
    private static final long serialVersionUID = 1L;

    /** Why a task file was refused. */
    public enum Reason {
        /** No bytes, or no prompt after the front matter. */
        EMPTY(ErrorCode.INVALID_ARGUMENT),
        /** Bytes that do not decode as UTF-8. */
        INVALID_UTF8(ErrorCode.UNPROCESSABLE),
        /** NUL bytes: a binary file, not Markdown. */
        BINARY(ErrorCode.UNPROCESSABLE),
        /** Front matter that does not parse (no closing line, bad priority, bad timeout, …). */
        BAD_FRONT_MATTER(ErrorCode.INVALID_ARGUMENT),
        /** Larger than {@code max_task_bytes}. */
        TOO_LARGE(ErrorCode.PAYLOAD_TOO_LARGE),
        /** Not a regular file: a folder, a symbolic link, a pipe. */
        NOT_A_FILE(ErrorCode.UNPROCESSABLE),
        /** A name the inbox does not take as a task (no {@code .md} extension). */
        BAD_NAME(ErrorCode.UNPROCESSABLE),
        /** The prompt matches a deny pattern of the bot's profile. */
        DENIED(ErrorCode.UNPROCESSABLE),
        /** The file could not be read. */
        UNREADABLE(ErrorCode.INTERNAL);

        private final ErrorCode code;

        Reason(ErrorCode code) {
            this.code = code;
        }

        /** The error code this reason is reported with. */
        public ErrorCode code() {
            return code;
        }
    }

    private final Reason reason;

    public TaskFileException(Reason reason, String message) {
        // Messages name the file as it arrived: whatever its name holds must not reach a log raw.
        super(reason.code(), LogSafe.printable(message, 4096));
        this.reason = reason;
    }

    /** What is wrong with the file. */
    public Reason reason() {
        return reason;
    }
}
