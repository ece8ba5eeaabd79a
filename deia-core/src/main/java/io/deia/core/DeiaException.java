package io.deia.core;

/**
 * The one unchecked exception deia throws. It carries an {@link ErrorCode} so that every layer
 * (library, HTTP, command line) reports the same failure the same way. Create it through the
 * factory methods, which read like the failure: {@code DeiaException.notFound("no bot %s", id)}.
 */
public class DeiaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public DeiaException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public DeiaException(ErrorCode code, String message) {
        this(code, message, null);
    }

    /** What kind of failure this is. */
    public ErrorCode code() {
        return code;
    }

    public static DeiaException invalid(String format, Object... args) {
        return new DeiaException(ErrorCode.INVALID_ARGUMENT, String.format(format, args));
    }

    public static DeiaException notFound(String format, Object... args) {
        return new DeiaException(ErrorCode.NOT_FOUND, String.format(format, args));
    }

    public static DeiaException conflict(String format, Object... args) {
        return new DeiaException(ErrorCode.CONFLICT, String.format(format, args));
    }

    public static DeiaException unprocessable(String format, Object... args) {
        return new DeiaException(ErrorCode.UNPROCESSABLE, String.format(format, args));
    }

    public static DeiaException tooLarge(String format, Object... args) {
        return new DeiaException(ErrorCode.PAYLOAD_TOO_LARGE, String.format(format, args));
    }

    public static DeiaException tooMany(String format, Object... args) {
        return new DeiaException(ErrorCode.TOO_MANY_REQUESTS, String.format(format, args));
    }

    public static DeiaException unavailable(String format, Object... args) {
        return new DeiaException(ErrorCode.UNAVAILABLE, String.format(format, args));
    }

    public static DeiaException timeout(String format, Object... args) {
        return new DeiaException(ErrorCode.TIMEOUT, String.format(format, args));
    }

    public static DeiaException badGateway(String format, Object... args) {
        return new DeiaException(ErrorCode.BAD_GATEWAY, String.format(format, args));
    }

    public static DeiaException internal(String message, Throwable cause) {
        return new DeiaException(ErrorCode.INTERNAL, message, cause);
    }

    /** An I/O failure on a file, with the file named so the log line is enough to debug it. */
    public static DeiaException io(String what, java.nio.file.Path file, Throwable cause) {
        String reason = cause == null ? "" : ": " + cause;
        return new DeiaException(ErrorCode.INTERNAL, what + " " + file + reason, cause);
    }
}
