package io.deia.core.webhook;

import io.deia.core.config.Webhook;
import io.deia.core.internal.io.LogSafe;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

/**
 * Makes one delivery attempt: POSTs the event's exact bytes to the webhook's URL with
 * {@code Content-Type: application/json}, {@code X-Deia-Event-Id}, {@code User-Agent: deia/<version>}
 * and, when the webhook has a secret, {@code X-Deia-Signature}. Redirects are never followed (a 3xx
 * is a failed attempt); the connection and the answer are bounded by timeouts; the JDK client is
 * asynchronous and runs on a small fixed pool, so a receiver that never answers holds no thread.
 * A webhook whose secret variable is missing is not sent at all (never unsigned).
 */
final class WebhookSender implements AutoCloseable {
    /** The header carrying the event's id. */
    static final String EVENT_ID_HEADER = "X-Deia-Event-Id";

    private final ExecutorService pool;
    private final HttpClient client;
    private final Duration requestTimeout;
    private final String userAgent;
    private final UnaryOperator<String> env;

    /** The outcome of one attempt: delivered (2xx), or why not. */
    record Attempt(boolean delivered, int status, String error) {
        static Attempt failed(String error) {
            return new Attempt(false, 0, error);
        }
    }

    WebhookSender(Duration connectTimeout, Duration requestTimeout, int threads, String userAgent, UnaryOperator<String> env) {
        AtomicInteger n = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "deia-webhook-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(connectTimeout)
                .executor(pool).build();
        this.requestTimeout = requestTimeout;
        this.userAgent = userAgent;
        this.env = env;
    }

    /** Sends {@code body} (the event file's bytes) to {@code hook}; the future never completes exceptionally. */
    CompletableFuture<Attempt> send(Webhook hook, String eventId, byte[] body) {
        HttpRequest.Builder request;
        try {
            request = HttpRequest.newBuilder(URI.create(hook.url())).timeout(requestTimeout)
                    .header("Content-Type", "application/json")
                    .header(EVENT_ID_HEADER, eventId)
                    .header("User-Agent", userAgent)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body));
            byte[] secret = hook.secretBytes(env);
            if (secret != null) {
                request.header(WebhookSignature.HEADER, WebhookSignature.of(secret, body));
            }
        } catch (IllegalStateException | IllegalArgumentException e) {
            return CompletableFuture.completedFuture(Attempt.failed(e.getMessage() + "; not sent (never unsigned)"));
        }
        // The request timeout bounds the wait for the status line; this bounds a body that never ends.
        long hardLimitMs = requestTimeout.toMillis() * 2;
        return client.sendAsync(request.build(), HttpResponse.BodyHandlers.discarding())
                .orTimeout(hardLimitMs, TimeUnit.MILLISECONDS)
                .handle((response, failure) -> failure == null ? outcome(response) : Attempt.failed(describe(failure)));
    }

    private static Attempt outcome(HttpResponse<?> response) {
        int status = response.statusCode();
        if (status >= 200 && status < 300) {
            return new Attempt(true, status, null);
        }
        if (status >= 300 && status < 400) {
            return new Attempt(false, status, "HTTP " + status + " redirect to "
                    + safeUrl(response.headers().firstValue("Location").orElse("(no Location)")) + " not followed");
        }
        return new Attempt(false, status, "HTTP " + status);
    }

    private static String describe(Throwable failure) {
        Throwable t = failure;
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException
                || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        if (t instanceof TimeoutException || t instanceof java.net.http.HttpTimeoutException) {
            return "timed out: " + LogSafe.printable(String.valueOf(t.getMessage()), 200);
        }
        String msg = t.getMessage();
        return t.getClass().getSimpleName() + (msg == null ? "" : ": " + LogSafe.printable(msg, 200));
    }

    /**
     * A URL as logs show it: scheme, host and port only. Webhook URLs often carry a token in their
     * path or query (chat services' incoming hooks do); logs never do.
     */
    static String safeUrl(String url) {
        try {
            URI u = URI.create(url);
            if (u.getScheme() == null || u.getHost() == null) {
                return "(relative URL)";
            }
            return u.getScheme() + "://" + u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort()) + "/…";
        } catch (IllegalArgumentException e) {
            return "(not a URL)";
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
