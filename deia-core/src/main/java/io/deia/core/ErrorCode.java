package io.deia.core;

/**
 * Every failure deia reports carries one of these codes. The HTTP layers map each to its status;
 * the command line maps them to exit codes. The string form ({@link #id()}) is what appears in
 * JSON error bodies: {@code {"error":{"code":"not_found","message":"…"}}}.
 */
public enum ErrorCode {
    /** Malformed input: a bad bot id, bad JSON, a missing field. */
    INVALID_ARGUMENT("invalid_argument", 400),
    /** No or wrong API token. */
    UNAUTHORIZED("unauthorized", 401),
    /** A budget of the hive or the bot's profile is used up (see {@code budget} in the config). */
    BUDGET_EXCEEDED("budget_exceeded", 402),
    /** The caller is known but not allowed (e.g. a foreign WebSocket Origin). */
    FORBIDDEN("forbidden", 403),
    /** The bot, task or profile named does not exist. */
    NOT_FOUND("not_found", 404),
    /** The request clashes with current state (the bot already runs, the id is taken). */
    CONFLICT("conflict", 409),
    /** A body or message over its size limit. */
    PAYLOAD_TOO_LARGE("payload_too_large", 413),
    /** Well-formed but refused by policy: unknown profile, denied message pattern. */
    UNPROCESSABLE("unprocessable", 422),
    /** A bounded queue is full; try again later. */
    TOO_MANY_REQUESTS("too_many_requests", 429),
    /** A failure inside deia or the agent it runs. */
    INTERNAL("internal", 500),
    /** A bot is registered but did not answer properly. */
    BAD_GATEWAY("bad_gateway", 502),
    /** A bot or resource is not available right now (starting, stopping, no port free). */
    UNAVAILABLE("unavailable", 503),
    /** A bot or agent did not answer in time. */
    TIMEOUT("timeout", 504);

    private final String id;
    private final int httpStatus;

    ErrorCode(String id, int httpStatus) {
        this.id = id;
        this.httpStatus = httpStatus;
    }

    /** The lower-case name used in JSON error bodies. */
    public String id() {
        return id;
    }

    /** The HTTP status this code is reported with. */
    public int httpStatus() {
        return httpStatus;
    }

    /** The code for an id as written in a JSON error body, or {@link #INTERNAL} when unknown. */
    public static ErrorCode fromId(String id) {
        for (ErrorCode c : values()) {
            if (c.id.equals(id)) {
                return c;
            }
        }
        return INTERNAL;
    }
}
