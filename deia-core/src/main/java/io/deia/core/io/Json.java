package io.deia.core.io;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.annotation.JsonInclude;
import io.deia.core.DeiaException;

import java.io.IOException;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;

/**
 * The one Jackson configuration deia uses for its files and wire formats: snake_case names,
 * ISO-8601 UTC instants with millisecond precision, nulls left out, unknown fields ignored (so an
 * older reader accepts a newer file), and bounded nesting depth so hostile input cannot exhaust
 * the stack.
 */
public final class Json {
    /** Deeper JSON is refused: no legitimate deia document nests anywhere near this. */
    public static final int MAX_NESTING_DEPTH = 64;

    private static final ObjectMapper MAPPER = build();
    /**
     * The mapper's reader for what arrives from outside (request bodies, WebSocket messages): one
     * JSON value and nothing after it, and no key twice in an object. Lenient parsing would let
     * {@code {"text":"a","text":"b"}} mean whatever the last reader of it decides.
     */
    private static final ObjectReader STRICT = MAPPER.reader()
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .with(StreamReadFeature.STRICT_DUPLICATE_DETECTION);

    private Json() {
    }

    /** The shared, thread-safe mapper. Do not reconfigure it. */
    public static ObjectMapper mapper() {
        return MAPPER;
    }

    /** Serialises {@code value} compactly on one line. */
    public static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw DeiaException.internal("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    /** Serialises {@code value} indented, for files people read. */
    public static String writePretty(Object value) {
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw DeiaException.internal("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    /**
     * Parses {@code json} into {@code type}.
     *
     * @param source names the input in the error ("registry.json", "request body")
     * @throws DeiaException {@link io.deia.core.ErrorCode#INVALID_ARGUMENT} with the parser's reason
     */
    public static <T> T read(String json, Class<T> type, String source) {
        try {
            T value = MAPPER.readValue(json, type);
            if (value == null) {
                throw DeiaException.invalid("%s is empty or null", source);
            }
            return value;
        } catch (JsonProcessingException e) {
            throw DeiaException.invalid("%s is not valid JSON for %s: %s", source, type.getSimpleName(),
                    e.getOriginalMessage());
        }
    }

    /** Parses {@code json} into a tree; same errors as {@link #read}. */
    public static JsonNode readTree(String json, String source) {
        try {
            JsonNode node = MAPPER.readTree(json);
            if (node == null || node.isMissingNode()) {
                throw DeiaException.invalid("%s is empty", source);
            }
            return node;
        } catch (JsonProcessingException e) {
            throw DeiaException.invalid("%s is not valid JSON: %s", source, e.getOriginalMessage());
        }
    }

    /**
     * Parses input from outside deia (a request body, a WebSocket message) strictly: anything after
     * the first JSON value (a second object, trailing words) and duplicate keys are refused. Files
     * deia writes itself are read with {@link #readTree}.
     *
     * @throws DeiaException {@link io.deia.core.ErrorCode#INVALID_ARGUMENT} with the parser's reason
     */
    public static JsonNode readStrictTree(String json, String source) {
        try {
            JsonNode node = STRICT.readTree(json);
            if (node == null || node.isMissingNode()) {
                throw DeiaException.invalid("%s is empty", source);
            }
            return node;
        } catch (JsonProcessingException e) {
            throw DeiaException.invalid("%s is not valid JSON: %s", source, e.getOriginalMessage());
        }
    }

    /** Epoch second of 10000-01-01T00:00:00Z: from there on ISO text needs a sign and a fifth digit. */
    private static final long YEAR_10000 = 253_402_300_800L;

    /** Formats an instant the way every deia file does: ISO-8601 UTC, milliseconds. */
    public static String formatInstant(Instant instant) {
        long seconds = instant.getEpochSecond();
        if (seconds < 0 || seconds >= YEAR_10000) {
            return instant.truncatedTo(ChronoUnit.MILLIS).toString();
        }
        // The same text as Instant.toString() for years 1970..9999, without the general formatter
        // (written twice per task response; the formatter is heavy to run and to compile).
        LocalDateTime t = LocalDateTime.ofEpochSecond(seconds, 0, ZoneOffset.UTC);
        int millis = instant.getNano() / 1_000_000;
        StringBuilder sb = new StringBuilder(24);
        pad(sb, t.getYear(), 4).append('-');
        pad(sb, t.getMonthValue(), 2).append('-');
        pad(sb, t.getDayOfMonth(), 2).append('T');
        pad(sb, t.getHour(), 2).append(':');
        pad(sb, t.getMinute(), 2).append(':');
        pad(sb, t.getSecond(), 2);
        if (millis != 0) {
            pad(sb.append('.'), millis, 3);
        }
        return sb.append('Z').toString();
    }

    /**
     * Parses the notation {@link #formatInstant} writes ({@code 2026-11-27T10:15:00.123Z}: four-digit
     * year, upper-case {@code T} and {@code Z}, zero to nine fraction digits) to the same instant
     * {@link Instant#parse} gives, without the general ISO parser (heavy to run and to compile, and
     * the registry reads several instants per update). Null for any other text, including text
     * {@code Instant.parse} would accept (an offset, lower case, a leap second): ask it then.
     */
    public static Instant parseCanonicalInstant(String text) {
        int n = text.length();
        if (n < 20 || n > 30 || n == 21 || text.charAt(n - 1) != 'Z' || text.charAt(4) != '-' || text.charAt(7) != '-'
                || text.charAt(10) != 'T' || text.charAt(13) != ':' || text.charAt(16) != ':') {
            return null;
        }
        int year = digits(text, 0, 4);
        int month = digits(text, 5, 2);
        int day = digits(text, 8, 2);
        int hour = digits(text, 11, 2);
        int minute = digits(text, 14, 2);
        int second = digits(text, 17, 2);
        int nanos = 0;
        if (n > 20) {
            int fraction = n - 21;
            int value = text.charAt(19) == '.' ? digits(text, 20, fraction) : -1;
            if (value < 0) {
                return null;
            }
            nanos = value;
            for (int i = fraction; i < 9; i++) {
                nanos *= 10;
            }
        }
        if ((year | month | day | hour | minute | second) < 0 || hour > 23 || minute > 59 || second > 59) {
            return null;
        }
        try {
            return Instant.ofEpochSecond(LocalDateTime.of(year, month, day, hour, minute, second).toEpochSecond(ZoneOffset.UTC), nanos);
        } catch (DateTimeException e) {
            // A day the month does not have: Instant.parse reports it.
            return null;
        }
    }

    /** The decimal value of {@code count} ASCII digits at {@code from}, or -1 when one is not a digit. */
    private static int digits(String s, int from, int count) {
        int value = 0;
        for (int i = from; i < from + count; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    private static StringBuilder pad(StringBuilder sb, int value, int width) {
        for (int limit = 10, digits = 1; digits < width; digits++, limit *= 10) {
            if (value < limit) {
                sb.append('0');
            }
        }
        return sb.append(value);
    }

    private static ObjectMapper build() {
        SimpleModule time = new SimpleModule("deia-time");
        time.addSerializer(Instant.class, new JsonSerializer<>() {
            @Override
            public void serialize(Instant value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
                gen.writeString(formatInstant(value));
            }
        });
        time.addDeserializer(Instant.class, new JsonDeserializer<>() {
            @Override
            public Instant deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
                if (p.currentToken().isNumeric()) {
                    return Instant.ofEpochMilli(p.getLongValue());
                }
                String text = p.getValueAsString();
                Instant canonical = text == null ? null : parseCanonicalInstant(text);
                if (canonical != null) {
                    return canonical;
                }
                try {
                    return Instant.parse(text);
                } catch (DateTimeParseException e) {
                    return (Instant) ctxt.handleWeirdStringValue(Instant.class, text, "not an ISO-8601 instant");
                }
            }
        });
        JsonMapper mapper = JsonMapper.builder()
                .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
                .serializationInclusion(JsonInclude.Include.NON_NULL)
                .addModule(time)
                .build();
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(MAX_NESTING_DEPTH)
                .maxStringLength(16 * 1024 * 1024)
                .build());
        return mapper;
    }
}
