package io.deia.http.controller;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text format 0.0.4, for tests: every line must be a
 * {@code # HELP}, a {@code # TYPE} or a sample {@code name{labels} value} with valid names, valid
 * label escaping ({@code \\}, {@code \"}, {@code \n} only) and a number; a sample's family must have
 * been typed first and not be split; histograms must have ascending, cumulative buckets ending in
 * {@code +Inf} equal to their {@code _count}, and a {@code _sum}. Anything else throws
 * {@link AssertionError} naming the line.
 */
final class PrometheusText {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Pattern HELP = Pattern.compile("# HELP (" + NAME.pattern() + ") ((?:[^\\\\\\n]|\\\\\\\\|\\\\n)*)");
    private static final Pattern TYPE = Pattern.compile("# TYPE (" + NAME.pattern() + ") (counter|gauge|histogram|summary|untyped)");
    private static final Set<String> SUFFIXES = Set.of("_total", "_bucket", "_sum", "_count", "_created");

    /** Sample values by series key: {@code name{a="x",b="y"}} with labels sorted by name ({@code name} alone without labels). */
    final Map<String, Double> samples = new LinkedHashMap<>();
    /** Family types by family name as declared in {@code # TYPE}. */
    final Map<String, String> types = new LinkedHashMap<>();
    /** Help texts by family name. */
    final Map<String, String> help = new LinkedHashMap<>();

    private PrometheusText() {
    }

    /** Parses and checks {@code body}. */
    static PrometheusText parse(String body) {
        if (!body.isEmpty() && !body.endsWith("\n")) {
            throw new AssertionError("the body does not end with a newline");
        }
        PrometheusText t = new PrometheusText();
        String family = null;
        Set<String> closed = new java.util.HashSet<>();
        int n = 0;
        for (String line : body.split("\n", -1)) {
            n++;
            if (line.isEmpty()) {
                continue;
            }
            Matcher m;
            if ((m = HELP.matcher(line)).matches()) {
                t.help.put(m.group(1), m.group(2));
                continue;
            }
            if ((m = TYPE.matcher(line)).matches()) {
                if (t.types.containsKey(m.group(1))) {
                    throw new AssertionError("line " + n + ": family typed twice: " + line);
                }
                if (family != null) {
                    closed.add(family);
                }
                family = m.group(1);
                t.types.put(family, m.group(2));
                continue;
            }
            if (line.startsWith("#")) {
                throw new AssertionError("line " + n + ": unexpected comment: " + line);
            }
            Sample s = sample(line, n);
            String owner = familyOf(s.name, t.types);
            if (owner == null || !owner.equals(family) || closed.contains(owner)) {
                throw new AssertionError("line " + n + ": sample outside its family's block (family " + family + "): " + line);
            }
            String key = key(s.name, s.labels);
            if (t.samples.put(key, s.value) != null) {
                throw new AssertionError("line " + n + ": series repeated: " + key);
            }
        }
        t.checkHistograms();
        return t;
    }

    private record Sample(String name, TreeMap<String, String> labels, double value) {
    }

    private static Sample sample(String line, int n) {
        Matcher name = NAME.matcher(line);
        if (!name.lookingAt()) {
            throw new AssertionError("line " + n + ": no valid metric name: " + line);
        }
        int i = name.end();
        TreeMap<String, String> labels = new TreeMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (line.charAt(i) != '}') {
                Matcher ln = LABEL_NAME.matcher(line).region(i, line.length());
                if (!ln.lookingAt()) {
                    throw new AssertionError("line " + n + ": bad label name at " + i + ": " + line);
                }
                String label = ln.group();
                i = ln.end();
                if (line.charAt(i) != '=' || line.charAt(i + 1) != '"') {
                    throw new AssertionError("line " + n + ": label " + label + " without =\"…\": " + line);
                }
                i += 2;
                StringBuilder value = new StringBuilder();
                while (line.charAt(i) != '"') {
                    char c = line.charAt(i);
                    if (c == '\\') {
                        char e = line.charAt(i + 1);
                        switch (e) {
                            case '\\' -> value.append('\\');
                            case '"' -> value.append('"');
                            case 'n' -> value.append('\n');
                            default -> throw new AssertionError("line " + n + ": bad escape \\" + e + ": " + line);
                        }
                        i += 2;
                    } else {
                        value.append(c);
                        i++;
                    }
                }
                i++;
                if (labels.put(label, value.toString()) != null) {
                    throw new AssertionError("line " + n + ": label repeated: " + line);
                }
                if (line.charAt(i) == ',') {
                    i++;
                }
            }
            i++;
        }
        if (i >= line.length() || line.charAt(i) != ' ') {
            throw new AssertionError("line " + n + ": no space before the value: " + line);
        }
        String rest = line.substring(i + 1);
        if (rest.contains(" ")) {
            throw new AssertionError("line " + n + ": a timestamp or trailing text was not expected: " + line);
        }
        return new Sample(name.group(), labels, number(rest, n));
    }

    private static double number(String s, int n) {
        switch (s) {
            case "+Inf":
                return Double.POSITIVE_INFINITY;
            case "-Inf":
                return Double.NEGATIVE_INFINITY;
            case "NaN":
                return Double.NaN;
            default:
                try {
                    return Double.parseDouble(s);
                } catch (NumberFormatException e) {
                    throw new AssertionError("line " + n + ": not a number: " + s);
                }
        }
    }

    /** The family a sample belongs to: its own name, or its name less a suffix its family's type allows. */
    private static String familyOf(String sample, Map<String, String> types) {
        if (types.containsKey(sample)) {
            String type = types.get(sample);
            return type.equals("histogram") || type.equals("summary") ? null : sample;
        }
        for (String suffix : SUFFIXES) {
            if (sample.endsWith(suffix)) {
                String base = sample.substring(0, sample.length() - suffix.length());
                String type = types.get(base);
                if (type != null && (type.equals("histogram") ? !suffix.equals("_total")
                        : type.equals("counter") && suffix.equals("_total"))) {
                    return base;
                }
            }
        }
        return null;
    }

    static String key(String name, Map<String, String> labels) {
        if (labels.isEmpty()) {
            return name;
        }
        StringBuilder b = new StringBuilder(name).append('{');
        new TreeMap<>(labels).forEach((k, v) -> b.append(k).append("=\"").append(v).append("\","));
        b.setLength(b.length() - 1);
        return b.append('}').toString();
    }

    private void checkHistograms() {
        for (var family : types.entrySet()) {
            if (!family.getValue().equals("histogram")) {
                continue;
            }
            String name = family.getKey();
            // Buckets grouped by their labels without le, in the order written.
            Map<String, List<double[]>> buckets = new LinkedHashMap<>();
            Map<String, Map<String, String>> labelsOf = new HashMap<>();
            for (var s : samples.entrySet()) {
                if (!s.getKey().startsWith(name + "_bucket")) {
                    continue;
                }
                Map<String, String> labels = labels(s.getKey());
                String le = labels.remove("le");
                if (le == null) {
                    throw new AssertionError("bucket without le: " + s.getKey());
                }
                String group = key(name, labels);
                labelsOf.put(group, labels);
                buckets.computeIfAbsent(group, g -> new ArrayList<>()).add(new double[] {number(le, 0), s.getValue()});
            }
            if (buckets.isEmpty()) {
                throw new AssertionError("histogram " + name + " has no buckets");
            }
            for (var g : buckets.entrySet()) {
                List<double[]> list = g.getValue();
                for (int i = 1; i < list.size(); i++) {
                    if (!(list.get(i)[0] > list.get(i - 1)[0]) || list.get(i)[1] < list.get(i - 1)[1]) {
                        throw new AssertionError("buckets of " + g.getKey() + " not ascending and cumulative");
                    }
                }
                double[] last = list.get(list.size() - 1);
                if (last[0] != Double.POSITIVE_INFINITY) {
                    throw new AssertionError("buckets of " + g.getKey() + " do not end with +Inf");
                }
                Map<String, String> labels = labelsOf.get(g.getKey());
                Double count = samples.get(key(name + "_count", labels));
                if (count == null || count != last[1]) {
                    throw new AssertionError(g.getKey() + ": _count " + count + " differs from the +Inf bucket " + last[1]);
                }
                if (!samples.containsKey(key(name + "_sum", labels))) {
                    throw new AssertionError(g.getKey() + " has no _sum");
                }
            }
        }
    }

    /** The labels of a series key written by {@link #key} (values never contain {@code ",} here). */
    private static Map<String, String> labels(String key) {
        Map<String, String> out = new TreeMap<>();
        int open = key.indexOf('{');
        if (open < 0) {
            return out;
        }
        for (String pair : key.substring(open + 1, key.length() - 1).split("\",")) {
            int eq = pair.indexOf("=\"");
            String v = pair.substring(eq + 2);
            out.put(pair.substring(0, eq), v.endsWith("\"") ? v.substring(0, v.length() - 1) : v);
        }
        return out;
    }

    /** The value of one series, or null when it is not in the body. */
    Double value(String name, String... labelPairs) {
        Map<String, String> labels = new TreeMap<>();
        for (int i = 0; i < labelPairs.length; i += 2) {
            labels.put(labelPairs[i], labelPairs[i + 1]);
        }
        return samples.get(key(name, labels));
    }

    /** The value of a histogram bucket ({@code le} as the format writes it, e.g. {@code "1.0"} or {@code "+Inf"}). */
    Double bucket(String histogram, String le, String... labelPairs) {
        String[] withLe = java.util.Arrays.copyOf(labelPairs, labelPairs.length + 2);
        withLe[labelPairs.length] = "le";
        withLe[labelPairs.length + 1] = le;
        return value(histogram + "_bucket", withLe);
    }
}
