package io.deia.http.internal;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Turns failures into the one error shape every deia HTTP service answers with:
 * {@code {"error":{"code":"<ErrorCode.id()>","message":"…"}}} and {@link ErrorCode#httpStatus()}.
 */
public final class HttpErrors {
    private HttpErrors() {
    }

    /** A handler answering every request it gets with 404 {@code not_found} naming the method and path. */
    public static org.eclipse.jetty.server.Handler noSuchEndpoint() {
        return new org.eclipse.jetty.server.Handler.Abstract() {
            @Override
            public boolean handle(org.eclipse.jetty.server.Request request, Response response, Callback callback) {
                send(response, callback, ErrorCode.NOT_FOUND,
                        "no such endpoint: " + request.getMethod() + " " + request.getHttpURI().getPath());
                return true;
            }
        };
    }

    /** The {@link DeiaException} a failure is reported as: itself, or {@code internal} for anything else. */
    public static DeiaException toDeia(Throwable failure) {
        Throwable t = failure;
        while (t != null) {
            if (t instanceof DeiaException d) {
                return d;
            }
            t = t.getCause();
        }
        return DeiaException.internal("internal error: " + failure, failure);
    }

    /** The JSON body for an error. */
    public static Map<String, Object> body(ErrorCode code, String message) {
        return body(code, message, Map.of());
    }

    /**
     * The JSON body for an error with more fields beside {@code code} and {@code message}
     * ({@link DeiaException#details()}, such as the {@code files} of a conflict).
     */
    public static Map<String, Object> body(ErrorCode code, String message, Map<String, Object> details) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", code.id());
        error.put("message", message == null ? code.id() : message);
        details.forEach(error::putIfAbsent);
        return Map.of("error", error);
    }

    /** Sends the error response for {@code failure} and completes {@code callback}. */
    public static void send(Response response, Callback callback, Throwable failure) {
        DeiaException e = toDeia(failure);
        send(response, callback, e, e.getMessage());
    }

    /**
     * Sends the error response for {@code error}, with {@code message} in place of its own (a
     * redacted one) and its {@link DeiaException#details() details}, and completes {@code callback}.
     */
    public static void send(Response response, Callback callback, DeiaException error, String message) {
        if (error.code() == ErrorCode.PAYLOAD_TOO_LARGE) {
            // The rest of the body was never read: no client may reuse the connection with it in there.
            response.getHeaders().put(org.eclipse.jetty.http.HttpHeader.CONNECTION, "close");
        }
        JsonResponses.send(response, callback, error.code().httpStatus(), body(error.code(), message, error.details()));
    }

    /** Sends an error response with the given code and message and completes {@code callback}. */
    public static void send(Response response, Callback callback, ErrorCode code, String message) {
        JsonResponses.send(response, callback, code.httpStatus(), body(code, message));
    }

    /**
     * Sends an error for a status that has no {@link ErrorCode} (405 {@code method_not_allowed},
     * produced by the routing layer, not by deia logic) and completes {@code callback}.
     */
    public static void send(Response response, Callback callback, int status, String codeId, String message) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", codeId);
        error.put("message", message);
        JsonResponses.send(response, callback, status, Map.of("error", error));
    }

    /** The error code reported for an HTTP status Jetty produced by itself (404, 405, 400 …). */
    public static ErrorCode codeForStatus(int status) {
        for (ErrorCode c : ErrorCode.values()) {
            if (c.httpStatus() == status) {
                return c;
            }
        }
        return status >= 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_ARGUMENT;
    }
}
