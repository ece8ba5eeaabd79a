package io.deia.bench;

import io.deia.core.internal.io.Json;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one machine-readable line a benchmark main prints at its end:
 * {@code BENCH-RESULT {"benchmark":"<name>", "<figure>_<unit>": <number>, ...}}.
 *
 * <p>The harness ({@code bench/peers/deia_only.py}) runs each main several times and reads only
 * this line, so the human-readable output above it can change freely. Units are part of the key
 * names ({@code _ms}, {@code _per_s}, {@code _mb}, {@code _pct}). A figure the run could not
 * measure is left out; the harness reports a missing figure as a failed run.
 */
public final class BenchResult {
    /** Start of the line the harness looks for. */
    public static final String PREFIX = "BENCH-RESULT ";

    private static final Pattern KEY_VALUE = Pattern.compile("(\\w+)=(\\d+(?:\\.\\d+)?)( ms)?");

    private final Map<String, Object> figures = new LinkedHashMap<>();

    private BenchResult(String benchmark) {
        figures.put("benchmark", benchmark);
    }

    /** A result line for the benchmark called {@code benchmark} (the harness's name for the main). */
    public static BenchResult of(String benchmark) {
        return new BenchResult(benchmark);
    }

    /** Adds a figure, rounded to 3 decimals; {@code null} or NaN leaves it out (not measured). */
    public BenchResult put(String key, Double value) {
        if (value != null && !value.isNaN()) {
            figures.put(key, Math.round(value * 1000.0) / 1000.0);
        }
        return this;
    }

    /** Adds every figure of {@code values} under {@code prefix + key}. */
    public BenchResult putAll(String prefix, Map<String, Double> values) {
        values.forEach((k, v) -> put(prefix + k, v));
        return this;
    }

    /** The line without its end of line, as {@link #print()} writes it. */
    public String line() {
        return PREFIX + Json.write(figures);
    }

    /** Prints the line on standard output and flushes it (some mains end with System.exit). */
    public void print() {
        System.out.println(line());
        System.out.flush();
    }

    /**
     * The {@code name=number} pairs of a human-readable summary such as
     * {@code "n=2000 p50=1.71 ms p99=8.38 ms"}; a number followed by " ms" gets the key suffix {@code _ms}.
     */
    public static Map<String, Double> numbers(String text) {
        Map<String, Double> out = new LinkedHashMap<>();
        Matcher m = KEY_VALUE.matcher(text);
        while (m.find()) {
            out.put(m.group(1) + (m.group(3) != null ? "_ms" : ""), Double.parseDouble(m.group(2)));
        }
        return out;
    }

    /** The first group of {@code regex} in {@code text} as a number, or {@code null} when it does not occur. */
    public static Double number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() ? Double.valueOf(m.group(1)) : null;
    }

    /** The median (upper middle for an even count) of {@code values}; NaN when empty. */
    public static double median(Collection<Double> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
