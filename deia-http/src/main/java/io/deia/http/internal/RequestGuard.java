package io.deia.http.internal;

import io.deia.core.ErrorCode;
import io.deia.core.HiveToken;
import io.deia.core.internal.io.LogSafe;
import org.eclipse.jetty.http.HttpCookie;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The front door of a deia HTTP service (a bot's port and the controller alike): checks, in this
 * order, before any endpoint sees the request —
 * <ol>
 *   <li>{@code Host} is one of this server's own names ({@code 127.0.0.1:<port>},
 *       {@code localhost:<port>}, {@code [::1]:<port>}, plus any given) → else <b>421</b>
 *       {@code misdirected_request}. A page that re-points its own domain name at 127.0.0.1 (DNS
 *       rebinding) is same-origin with itself, so the browser sends no foreign {@code Origin}; only
 *       the {@code Host} it sends still names that domain.</li>
 *   <li>an {@code Origin} header, when present, is one of the allowed origins (by default none:
 *       any request a browser makes on behalf of a page is refused) → else <b>403</b>;</li>
 *   <li>{@code Sec-Fetch-Site}, when present, is {@code none} or {@code same-origin}, except on
 *       paths marked as navigable → else <b>403</b> (a page on another port of 127.0.0.1 is
 *       {@code same-site}, which is not enough);</li>
 *   <li>the token, as {@code Authorization: Bearer <token>} or the given cookie, compared in
 *       constant time, except on the paths marked open → else <b>401</b>;</li>
 *   <li>a POST, PUT, PATCH or DELETE that carries a body or a {@code Content-Type} has
 *       {@code Content-Type: application/json} (or a type allowed for that path) → else <b>415</b>
 *       {@code unsupported_media_type}. The types an HTML form or a {@code no-cors} fetch may send
 *       without a CORS preflight ({@code text/plain}, {@code application/x-www-form-urlencoded},
 *       {@code multipart/form-data}) are never allowed, and no deia service answers a preflight,
 *       so a page on another origin cannot get a body to an endpoint;</li>
 *   <li>such a request authenticated by the cookie (not the bearer token) carries an
 *       {@code Origin} → else <b>403</b>: browsers send one with every POST, so its absence means a
 *       client that cannot be trusted to have checked where the request came from.</li>
 * </ol>
 * Each refusal is logged once with the service's name, without the token. Nothing behind the
 * guard runs for a refused request.
 */
public final class RequestGuard extends Handler.Wrapper {
    private static final Logger log = LoggerFactory.getLogger(RequestGuard.class);

    /** The JSON media type every body must have unless a path allows another. */
    public static final String JSON = "application/json";

    private static final Set<String> BODY_METHODS = Set.of("POST", "PUT", "PATCH", "DELETE");
    private static final Set<String> TRUSTED_FETCH_SITES = Set.of("none", "same-origin");

    private final String name;
    private final HiveToken token;
    private final Supplier<Set<String>> hosts;
    private final Supplier<Set<String>> origins;
    private final Predicate<String> open;
    private final Predicate<String> navigable;
    private final String cookie;
    private final Map<String, Predicate<String>> otherBodyTypes;

    private RequestGuard(Builder b, Handler next) {
        super(next);
        this.name = b.name;
        this.token = b.token;
        this.hosts = b.hosts;
        this.origins = b.origins;
        this.open = b.open;
        this.navigable = b.navigable;
        this.cookie = b.cookie;
        this.otherBodyTypes = Map.copyOf(b.otherBodyTypes);
    }

    /**
     * A guard of a service known as {@code name} in the log (a bot id or {@code controller}),
     * checking {@code token}.
     */
    public static Builder builder(String name, HiveToken token) {
        return new Builder(name, token);
    }

    /**
     * The {@code Host} values a loopback service on {@code port} answers to:
     * {@code 127.0.0.1:<port>}, {@code localhost:<port>}, {@code [::1]:<port>} (and the same
     * without the port when it is 80, as clients then leave it out).
     */
    public static Set<String> loopbackHosts(int port) {
        Set<String> out = new LinkedHashSet<>();
        for (String host : new String[] {"127.0.0.1", "localhost", "[::1]"}) {
            out.add(host + ":" + port);
            if (port == 80) {
                out.add(host);
            }
        }
        return out;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String path = request.getHttpURI().getPath();
        String method = request.getMethod();
        String host = request.getHeaders().get(HttpHeader.HOST);
        if (host == null || !hosts.get().contains(host.trim().toLowerCase(Locale.ROOT))) {
            log.warn("[{}] refused {} {}: Host {} is not this server's", name, method, printable(path),
                    printable(host));
            closeAfterAnswer(response);
            HttpErrors.send(response, callback, 421, "misdirected_request",
                    "Host " + printable(host) + " is not this server; use 127.0.0.1 or localhost with the port");
            return true;
        }
        String origin = request.getHeaders().get(HttpHeader.ORIGIN);
        if (origin != null && !origins.get().contains(origin.trim().toLowerCase(Locale.ROOT))) {
            log.warn("[{}] refused {} {}: request from a web page (Origin {})", name, method, printable(path),
                    printable(origin));
            closeAfterAnswer(response);
            HttpErrors.send(response, callback, ErrorCode.FORBIDDEN,
                    "requests from web pages are refused here (Origin " + printable(origin) + ")");
            return true;
        }
        // Which paths are open or navigable is decided on the path the handlers route on: decoded,
        // dot segments resolved and ";params" removed. The raw one would let "/api;x/bots" pass as
        // an open page and still be routed to /api/bots. Null when it cannot be resolved: not open.
        String routed = routedPath(request);
        String fetchSite = request.getHeaders().get("Sec-Fetch-Site");
        if (fetchSite != null && !TRUSTED_FETCH_SITES.contains(fetchSite.trim().toLowerCase(Locale.ROOT))
                && (routed == null || !navigable.test(routed))) {
            log.warn("[{}] refused {} {}: Sec-Fetch-Site {}", name, method, printable(path), printable(fetchSite));
            closeAfterAnswer(response);
            HttpErrors.send(response, callback, ErrorCode.FORBIDDEN,
                    "requests from other sites are refused here (Sec-Fetch-Site " + printable(fetchSite) + ")");
            return true;
        }
        Credential credential = routed != null && open.test(routed) ? Credential.NOT_NEEDED : credential(request);
        if (credential == Credential.NONE) {
            log.info("[{}] refused {} {} from {}: no valid token", name, method, printable(path),
                    Request.getRemoteAddr(request));
            response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"deia\"");
            closeAfterAnswer(response);
            HttpErrors.send(response, callback, ErrorCode.UNAUTHORIZED, cookie == null
                    ? "a valid token is required: Authorization: Bearer <token> (the hive's token file)"
                    : "a valid token is required: Authorization: Bearer <token> or the " + cookie + " cookie");
            return true;
        }
        if (BODY_METHODS.contains(method)) {
            String type = request.getHeaders().get(HttpHeader.CONTENT_TYPE);
            if (type == null ? hasBody(request) : !bodyTypeAllowed(mediaType(type), path)) {
                log.warn("[{}] refused {} {}: Content-Type {}", name, method, printable(path), printable(type));
                closeAfterAnswer(response);
            HttpErrors.send(response, callback, 415, "unsupported_media_type",
                        "the body must be " + JSON + (type == null ? " (no Content-Type was given)"
                                : ", was " + printable(type)));
                return true;
            }
            if (credential == Credential.COOKIE && origin == null) {
                // Only a browser holds the cookie, and browsers name the page behind every POST in
                // Origin: one that does not cannot be told apart from a page on another local port.
                log.warn("[{}] refused {} {}: cookie without an Origin", name, method, printable(path));
                closeAfterAnswer(response);
            HttpErrors.send(response, callback, ErrorCode.FORBIDDEN,
                        "a state-changing request with the " + cookie + " cookie must carry its Origin");
                return true;
            }
        }
        return super.handle(request, response, callback);
    }

    /**
     * A refused request's body is never read: its connection is closed after the answer, so that no
     * client reuses it with the unread body still in it (the next request on it would find the
     * connection gone and get no answer at all).
     */
    private static void closeAfterAnswer(Response response) {
        response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
    }

    /** The canonical path (the one routing uses), or null when the request's path has none. */
    private static String routedPath(Request request) {
        try {
            return request.getHttpURI().getCanonicalPath();
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** How a request proved it holds the token. */
    private enum Credential { NOT_NEEDED, BEARER, COOKIE, NONE }

    private Credential credential(Request request) {
        if (token.matchesBearer(request.getHeaders().get(HttpHeader.AUTHORIZATION))) {
            return Credential.BEARER;
        }
        if (cookie != null) {
            for (HttpCookie c : Request.getCookies(request)) {
                if (cookie.equals(c.getName()) && token.matches(c.getValue())) {
                    return Credential.COOKIE;
                }
            }
        }
        return Credential.NONE;
    }

    private boolean bodyTypeAllowed(String mediaType, String path) {
        if (JSON.equals(mediaType)) {
            return true;
        }
        Predicate<String> paths = otherBodyTypes.get(mediaType);
        return paths != null && paths.test(path);
    }

    /** True when the request says it carries content: a positive length, or chunked with none given. */
    private static boolean hasBody(Request request) {
        long length = request.getLength();
        return length > 0 || (length < 0 && request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING));
    }

    /** {@code Text/Markdown; charset=utf-8} → {@code text/markdown}. */
    static String mediaType(String contentType) {
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).trim().toLowerCase(Locale.ROOT);
    }

    /** At most 120 characters, control characters escaped: header values are the caller's text. */
    static String printable(String s) {
        return s == null ? "(none)" : LogSafe.printable(s, 120);
    }

    /** Settings of a {@link RequestGuard}; the defaults are a bot port's: loopback only, no browser, token everywhere. */
    public static final class Builder {
        private final String name;
        private final HiveToken token;
        private Supplier<Set<String>> hosts = Set::of;
        private Supplier<Set<String>> origins = Set::of;
        private Predicate<String> open = path -> false;
        private Predicate<String> navigable = path -> false;
        private String cookie;
        private final Map<String, Predicate<String>> otherBodyTypes = new LinkedHashMap<>();

        private Builder(String name, HiveToken token) {
            this.name = Objects.requireNonNull(name, "name");
            this.token = Objects.requireNonNull(token, "token");
        }

        /**
         * The {@code Host} header values answered, lower-case (e.g. {@link #loopbackHosts(int)});
         * asked per request because the port may be known only once bound. Required: the default
         * refuses every request.
         */
        public Builder hosts(Supplier<Set<String>> v) { this.hosts = Objects.requireNonNull(v, "hosts"); return this; }

        /** The {@code Origin} values allowed, lower-case; default none, so any {@code Origin} is refused. */
        public Builder origins(Supplier<Set<String>> v) { this.origins = Objects.requireNonNull(v, "origins"); return this; }

        /** Paths that need no token (e.g. {@code /health}); default none. */
        public Builder open(Predicate<String> v) { this.open = Objects.requireNonNull(v, "open"); return this; }

        /**
         * Paths a browser may reach from another site, so {@code Sec-Fetch-Site} is not checked
         * there (the controller's dashboard pages, opened from a link); default none.
         */
        public Builder navigable(Predicate<String> v) { this.navigable = Objects.requireNonNull(v, "navigable"); return this; }

        /** A cookie that may carry the token besides the {@code Authorization} header; default none. */
        public Builder cookie(String v) { this.cookie = v; return this; }

        /**
         * Allows bodies of {@code mediaType} (besides JSON) on the paths {@code paths} accepts.
         * Never allow a type a browser may send without a preflight ({@code text/plain},
         * {@code application/x-www-form-urlencoded}, {@code multipart/form-data}).
         *
         * @throws IllegalArgumentException for one of those types
         */
        public Builder alsoAccept(String mediaType, Predicate<String> paths) {
            String type = mediaType(mediaType);
            if (type.equals("text/plain") || type.equals("application/x-www-form-urlencoded")
                    || type.equals("multipart/form-data")) {
                throw new IllegalArgumentException(type + " can be sent by any web page without a preflight");
            }
            otherBodyTypes.put(type, Objects.requireNonNull(paths, "paths"));
            return this;
        }

        /** The guard in front of {@code next}. */
        public RequestGuard wrap(Handler next) {
            return new RequestGuard(this, next);
        }
    }
}
