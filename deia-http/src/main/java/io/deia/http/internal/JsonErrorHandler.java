package io.deia.http.internal;

import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Jetty's own error pages (unknown path → 404, unreadable request → 400, uncaught failure → 500)
 * in deia's JSON error shape instead of HTML. Install with {@code server.setErrorHandler(new JsonErrorHandler())}.
 */
public final class JsonErrorHandler extends ErrorHandler {
    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        int status = response.getStatus() > 0 ? response.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR_500;
        Object attr = request.getAttribute(ERROR_STATUS);
        if (attr instanceof Integer s) {
            status = s;
        }
        String message;
        if (status == HttpStatus.NOT_FOUND_404) {
            message = "no such endpoint: " + request.getMethod() + " " + request.getHttpURI().getPath();
        } else {
            Object m = request.getAttribute(ERROR_MESSAGE);
            message = m != null ? m.toString() : HttpStatus.getMessage(status);
        }
        HttpErrors.send(response, callback, status, HttpErrors.codeForStatus(status).id(), message);
        return true;
    }
}
