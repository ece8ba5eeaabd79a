package io.deia.http.controller;

import io.deia.core.ErrorCode;
import io.deia.core.HiveToken;
import io.deia.http.internal.HttpErrors;
import org.eclipse.jetty.http.HttpCookie;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;

import java.util.Locale;

/**
 * What the controller checks beyond the shared {@link io.deia.http.internal.RequestGuard} (which
 * runs first and does the token, {@code Host}, {@code Origin}, {@code Sec-Fetch-Site} and
 * {@code Content-Type} checks):
 * <ul>
 *   <li>a path with dot segments or encoded separators under {@code /api} → 400 (ids become file
 *       names; nothing that looks like traversal gets past here);</li>
 *   <li>{@code GET /?token=<t>} with the right token sets the HttpOnly, SameSite=Strict cookie and
 *       redirects (303) to {@code /}, so the token leaves the address bar and the history.</li>
 * </ul>
 * The token is never logged.
 */
final class AccessGuard extends Handler.Wrapper {
    /** Name of the cookie the dashboard holds the token in. */
    static final String COOKIE = "deia_token";

    private final HiveToken token;

    AccessGuard(HiveToken token, Handler next) {
        super(next);
        this.token = token;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String path = request.getHttpURI().getPath();
        boolean api = path.equals("/api") || path.startsWith("/api/");
        if (api && looksLikeTraversal(path)) {
            HttpErrors.send(response, callback, ErrorCode.INVALID_ARGUMENT,
                    "path " + printable(path) + " contains dot segments or encoded separators");
            return true;
        }
        if (path.equals("/") && "GET".equals(request.getMethod())) {
            Fields query = Request.extractQueryParameters(request);
            String given = query.getValue("token");
            if (given != null) {
                if (!token.matches(given)) {
                    if (SignInPage.wanted(request)) {
                        SignInPage.send(response, callback);
                        return true;
                    }
                    HttpErrors.send(response, callback, ErrorCode.UNAUTHORIZED, "the token in the link is not valid");
                    return true;
                }
                Response.addCookie(response, HttpCookie.build(COOKIE, token.reveal())
                        .path("/").httpOnly(true).sameSite(HttpCookie.SameSite.STRICT).build());
                response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
                Response.sendRedirect(request, response, callback, 303, "/", true);
                return true;
            }
        }
        return super.handle(request, response, callback);
    }

    /** True for the paths that need the token: {@code /api/**}, {@code /ws} and {@code /metrics}. */
    static boolean needsToken(String path) {
        return path.equals("/api") || path.startsWith("/api/") || path.equals("/ws") || path.equals("/metrics");
    }

    static boolean looksLikeTraversal(String rawPath) {
        String p = rawPath.toLowerCase(Locale.ROOT);
        return p.contains("/../") || p.endsWith("/..") || p.contains("/./") || p.endsWith("/.")
                || p.contains("%2e") || p.contains("%2f") || p.contains("%5c") || p.contains("\\") || p.contains("//");
    }

    private static String printable(String s) {
        return io.deia.core.internal.io.LogSafe.printable(s, 120);
    }
}
