package io.deia.http.internal;

import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * One HTTP operation. It may block (it runs on a pool thread) and may throw: {@link MethodRouter}
 * turns the exception into the JSON error response.
 */
@FunctionalInterface
public interface Endpoint {
    /** Serves the request; must complete {@code callback} (directly or by writing the last content). */
    void handle(Request request, Response response, Callback callback) throws Exception;
}
