package io.deia.http.controller;

import io.deia.http.internal.HivePathRedactor;
import io.deia.http.internal.MethodRouter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * {@code GET /metrics}: the hive's {@link HiveMetrics} in the Prometheus text format (version
 * 0.0.4), every name prefixed {@code deia_}. See {@code docs/operations.md} ("Metrics") for the list.
 *
 * <p>Written with the Prometheus Java client ({@code prometheus-metrics-core} for the metric model,
 * {@code prometheus-metrics-exposition-textformats} for the text), not by hand: the format's
 * escaping, histogram buckets and {@code _total} naming are the library's, kept right by its
 * maintainers as the format evolves. It was preferred to Micrometer because it is small (about
 * 400 KB with its model, config and tracer-detection jars, nothing else) and needs no global meter
 * registry: each controller has its own {@code PrometheusRegistry} (see {@link HiveMetrics}), not
 * the library's static default one, so several controllers in one JVM (tests, benchmarks) never
 * share or clash on a metric.
 *
 * <p>Guarded like {@code /api} (see {@link AccessGuard#needsToken}): the token as
 * {@code Authorization: Bearer} (what Prometheus sends, from {@code credentials_file}) or the
 * dashboard's cookie; a foreign {@code Origin} or a cross-site fetch is refused; only GET is served.
 */
final class MetricsEndpoint {
    private final HiveMetrics metrics;
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    MetricsEndpoint(HiveMetrics metrics) {
        this.metrics = metrics;
    }

    /** The handler to mount on {@code /metrics}. */
    MethodRouter router(HivePathRedactor redactor) {
        return new MethodRouter(redactor).get(this::get);
    }

    private void get(Request request, Response response, Callback callback) throws IOException {
        MetricSnapshots snapshots = metrics.scrape();
        ByteArrayOutputStream body = new ByteArrayOutputStream(16 * 1024);
        writer.write(body, snapshots);
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, writer.getContentType());
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.write(true, ByteBuffer.wrap(body.toByteArray()), callback);
    }
}
