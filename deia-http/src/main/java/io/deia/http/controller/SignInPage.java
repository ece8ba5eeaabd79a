package io.deia.http.controller;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The page a browser gets for a dashboard link with a wrong {@code ?token=}: a person clicked it,
 * so it says in words what went wrong and what to do, instead of the API's JSON error. Fixed text:
 * nothing from the request is echoed (the wrong token stays out of the page).
 */
final class SignInPage {
    static final String HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>deia: the link's token is not valid</title></head>
            <body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em; color: #1c2430">
            <h1>This dashboard link is not valid</h1>
            <p>The token in the link does not match this controller's token. It may be from an earlier
            run (a new token is made when the token file is replaced) or copied incompletely.</p>
            <p>What to do: open the link that <code>serve</code> printed when it started (it is in the
            controller's output), or read the token from the file <code>.deia/token</code> in the hive on
            the controller's machine and open <code>/?token=&lt;token&gt;</code> on this address.</p>
            </body></html>
            """;

    private SignInPage() {
    }

    /** Whether the client asked for a page (a browser navigation) rather than for JSON. */
    static boolean wanted(Request request) {
        String accept = request.getHeaders().get(HttpHeader.ACCEPT);
        return accept != null && accept.contains("text/html");
    }

    static void send(Response response, Callback callback) {
        response.setStatus(HttpStatus.UNAUTHORIZED_401);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/html; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.getHeaders().put("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
        response.write(true, ByteBuffer.wrap(HTML.getBytes(StandardCharsets.UTF_8)), callback);
    }
}
