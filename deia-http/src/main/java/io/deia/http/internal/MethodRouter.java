package io.deia.http.internal;

import io.deia.core.internal.io.LogSafe;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * The handler for one path: dispatches on the HTTP method (others get 405 with {@code Allow}) and
 * reports whatever an {@link Endpoint} throws as a JSON error. Mount it with
 * {@code PathMappingsHandler.addMapping(PathSpec.from("/x"), router)}.
 */
public final class MethodRouter extends Handler.Abstract {
    private static final Logger log = LoggerFactory.getLogger(MethodRouter.class);

    private final Map<String, Endpoint> byMethod = new LinkedHashMap<>();
    private final UnaryOperator<String> redact;

    /** A router whose error messages are sent as they are. */
    public MethodRouter() {
        this(UnaryOperator.identity());
    }

    /**
     * A router that passes every error message through {@code redact} before it is sent (e.g. a
     * {@link HivePathRedactor}, so no absolute path reaches a client).
     */
    public MethodRouter(UnaryOperator<String> redact) {
        this.redact = Objects.requireNonNull(redact, "redact");
    }

    /** Serves GET (and HEAD is not implied). */
    public MethodRouter get(Endpoint endpoint) {
        return on("GET", endpoint);
    }

    /** Serves POST. */
    public MethodRouter post(Endpoint endpoint) {
        return on("POST", endpoint);
    }

    /** Serves {@code method} with {@code endpoint}. */
    public MethodRouter on(String method, Endpoint endpoint) {
        byMethod.put(method.toUpperCase(Locale.ROOT), endpoint);
        return this;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        Endpoint endpoint = byMethod.get(request.getMethod());
        if (endpoint == null) {
            response.getHeaders().put(HttpHeader.ALLOW, String.join(", ", byMethod.keySet()));
            HttpErrors.send(response, callback, 405, "method_not_allowed",
                    request.getMethod() + " is not allowed here; use " + String.join(" or ", byMethod.keySet()));
            return true;
        }
        try {
            endpoint.handle(request, response, callback);
        } catch (Throwable failure) {
            fail(request, response, callback, failure);
        }
        return true;
    }

    private void fail(Request request, Response response, Callback callback, Throwable failure) {
        if (response.isCommitted()) {
            // The status line is gone already: all that is left is to abort the exchange.
            log.debug("{} {} failed after the response was committed: {}", request.getMethod(),
                    request.getHttpURI().getPath(), failure.toString());
            callback.failed(failure);
            return;
        }
        var error = HttpErrors.toDeia(failure);
        if (error.code().httpStatus() >= 500) {
            log.warn("{} {} failed: {}", request.getMethod(), LogSafe.printable(request.getHttpURI().getPath()),
                    LogSafe.printable(error.getMessage(), 2000));
        }
        response.reset();
        HttpErrors.send(response, callback, error, redact.apply(error.getMessage()));
    }
}
