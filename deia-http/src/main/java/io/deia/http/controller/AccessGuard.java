package io.deia.http.controller;

import io.deia.core.ErrorCode;
import io.deia.http.common.HttpErrors;
import org.eclipse.jetty.http.HttpCookie;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The controller's front door, in front of every route:
 * <ul>
 *   <li>{@code /api/**} and {@code /ws} need the token, as {@code Authorization: Bearer <token>} or
 *       the {@code deia_token} cookie (compared in constant time) → else 401;</li>
 *   <li>{@code /ws} also needs an {@code Origin} that is the controller's own (when the header is
 *       present: browsers always send it, other clients may not) → else 403;</li>
 *   <li>a path with dot segments or encoded separators under {@code /api} → 400 (ids become file
 *       names; nothing that looks like traversal gets past here);</li>
 *   <li>{@code GET /?token=<t>} with the right token sets the HttpOnly, SameSite=Strict cookie and
 *       redirects (303) to {@code /}, so the token leaves the address bar and the history.</li>
 * </ul>
 * Static dashboard files and {@code /health} need no token. The token is never logged.
 */
final class AccessGuard extends Handler.Wrapper {
    private static final Logger log = LoggerFactory.getLogger(AccessGuard.class);

    /** Name of the cookie the dashboard holds the token in. */
    static final String COOKIE = "deia_token";

    private final ApiToken token;
    private final Supplier<Set<String>> allowedOrigins;

    AccessGuard(ApiToken token, Supplier<Set<String>> allowedOrigins, Handler next) {
        super(next);
        this.token = token;
        this.allowedOrigins = allowedOrigins;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String path = request.getHttpURI().getPath();
        boolean api = path.equals("/api") || path.startsWith("/api/");
        boolean ws = path.equals("/ws");
        if (api || ws) {
            if (!authenticated(request)) {
                log.info("refused {} {} from {}: no valid token", request.getMethod(), path,
                        Request.getRemoteAddr(request));
                response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"deia\"");
                HttpErrors.send(response, callback, ErrorCode.UNAUTHORIZED,
                        "a valid token is required: Authorization: Bearer <token> or the deia_token cookie");
                return true;
            }
            if (ws) {
                String origin = request.getHeaders().get(HttpHeader.ORIGIN);
                if (origin != null && !allowedOrigins.get().contains(origin.toLowerCase(Locale.ROOT))) {
                    log.warn("refused WebSocket from foreign origin {}", printable(origin));
                    HttpErrors.send(response, callback, ErrorCode.FORBIDDEN,
                            "origin " + printable(origin) + " may not open the WebSocket");
                    return true;
                }
            }
            if (api && looksLikeTraversal(path)) {
                HttpErrors.send(response, callback, ErrorCode.INVALID_ARGUMENT,
                        "path " + printable(path) + " contains dot segments or encoded separators");
                return true;
            }
            return super.handle(request, response, callback);
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

    private boolean authenticated(Request request) {
        String auth = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return token.matches(auth.substring(7).trim());
        }
        for (HttpCookie c : Request.getCookies(request)) {
            if (COOKIE.equals(c.getName()) && token.matches(c.getValue())) {
                return true;
            }
        }
        return false;
    }

    static boolean looksLikeTraversal(String rawPath) {
        String p = rawPath.toLowerCase(Locale.ROOT);
        return p.contains("/../") || p.endsWith("/..") || p.contains("/./") || p.endsWith("/.")
                || p.contains("%2e") || p.contains("%2f") || p.contains("%5c") || p.contains("\\") || p.contains("//");
    }

    private static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().limit(120).forEach(cp -> {
            if (cp < 0x20 || cp == 0x7f) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.toString();
    }
}
