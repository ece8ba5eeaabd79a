package io.deia.core;

/**
 * The one unchecked exception deia throws. It carries an {@link ErrorCode} so that every layer
 * (library, HTTP, command line) reports the same failure the same way. Create it through the
 * factory methods, which read like the failure: {@code DeiaException.notFound("no bot %s", id)}.
 */
public class DeiaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What kind of failure this is. */
    private final ErrorCode code;

    /**
     * A failure of the given kind caused by another exception.
     *
     * @param code    what kind of failure this is
     * @param message the reason, as shown to the caller
     * @param cause   the underlying exception, or {@code null}
     */
    public DeiaException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    /**
     * A failure of the given kind without an underlying exception.
     *
     * @param code    what kind of failure this is
     * @param message the reason, as shown to the caller
     */
    public DeiaException(ErrorCode code, String message) {
        this(code, message, null);
    }

    /** What kind of failure this is. */
    public ErrorCode code() {
        return code;
    }

    /**
     * Fields a client gets beside {@code code} and {@code message} in the error it is shown (the
     * HTTP error body, the command line's report), such as the {@code files} of a merge conflict;
     * none by default.
     */
    public java.util.Map<String, Object> details() {
        return java.util.Map.of();
    }

    /** Malformed input ({@link ErrorCode#INVALID_ARGUMENT}, HTTP 400); the message is {@code String.format(format, args)}. */
    public static DeiaException invalid(String format, Object... args) {
        return new DeiaException(ErrorCode.INVALID_ARGUMENT, String.format(format, args));
    }

    /** The bot, task or profile named does not exist ({@link ErrorCode#NOT_FOUND}, 404). */
    public static DeiaException notFound(String format, Object... args) {
        return new DeiaException(ErrorCode.NOT_FOUND, String.format(format, args));
    }

    /** The request clashes with the current state ({@link ErrorCode#CONFLICT}, 409). */
    public static DeiaException conflict(String format, Object... args) {
        return new DeiaException(ErrorCode.CONFLICT, String.format(format, args));
    }

    /** Well-formed but refused by policy ({@link ErrorCode#UNPROCESSABLE}, 422). */
    public static DeiaException unprocessable(String format, Object... args) {
        return new DeiaException(ErrorCode.UNPROCESSABLE, String.format(format, args));
    }

    /** A body or message over its size limit ({@link ErrorCode#PAYLOAD_TOO_LARGE}, 413). */
    public static DeiaException tooLarge(String format, Object... args) {
        return new DeiaException(ErrorCode.PAYLOAD_TOO_LARGE, String.format(format, args));
    }

    /** A bounded queue is full; the caller may retry later ({@link ErrorCode#TOO_MANY_REQUESTS}, 429). */
    public static DeiaException tooMany(String format, Object... args) {
        return new DeiaException(ErrorCode.TOO_MANY_REQUESTS, String.format(format, args));
    }

    /** A bot or resource is not available right now ({@link ErrorCode#UNAVAILABLE}, 503). */
    public static DeiaException unavailable(String format, Object... args) {
        return new DeiaException(ErrorCode.UNAVAILABLE, String.format(format, args));
    }

    /** A bot or agent did not answer in time ({@link ErrorCode#TIMEOUT}, 504). */
    public static DeiaException timeout(String format, Object... args) {
        return new DeiaException(ErrorCode.TIMEOUT, String.format(format, args));
    }

    /** A budget of the hive or the bot's profile is used up ({@link ErrorCode#BUDGET_EXCEEDED}, 402). */
    public static DeiaException budgetExceeded(String format, Object... args) {
        return new DeiaException(ErrorCode.BUDGET_EXCEEDED, String.format(format, args));
    }

    /** A bot is registered but did not answer properly ({@link ErrorCode#BAD_GATEWAY}, 502). */
    public static DeiaException badGateway(String format, Object... args) {
        return new DeiaException(ErrorCode.BAD_GATEWAY, String.format(format, args));
    }

    /** A failure inside deia or the agent it runs ({@link ErrorCode#INTERNAL}, 500), keeping its cause. */
    public static DeiaException internal(String message, Throwable cause) {
        return new DeiaException(ErrorCode.INTERNAL, message, cause);
    }

    /** An I/O failure on a file, with the file named so the log line is enough to debug it. */
    public static DeiaException io(String what, java.nio.file.Path file, Throwable cause) {
        String reason = cause == null ? "" : ": " + cause;
        return new DeiaException(ErrorCode.INTERNAL, what + " " + file + reason, cause);
    }
}
