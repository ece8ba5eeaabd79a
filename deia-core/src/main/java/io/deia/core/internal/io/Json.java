package io.deia.core.internal.io;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.deia.core.DeiaException;

import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * The one Jackson configuration deia uses for its files and wire formats: snake_case names,
 * ISO-8601 UTC instants with millisecond precision (a number is read as epoch milliseconds), nulls
 * left out, unknown fields ignored (so an older reader accepts a newer file), and bounded nesting
 * depth so hostile input cannot exhaust the stack. Callers name the Java type they want (a record,
 * {@code Map}, or a Jackson tree type inside a module); no Jackson type appears here.
 */
public final class Json {
    /** Deeper JSON is refused: no legitimate deia document nests anywhere near this. */
    public static final int MAX_NESTING_DEPTH = 64;

    private static final ObjectMapper MAPPER = build();
    private static final ObjectWriter COMPACT = MAPPER.writer();
    private static final ObjectWriter PRETTY = MAPPER.writerWithDefaultPrettyPrinter();
    private static final ObjectReader LENIENT = MAPPER.reader();
    /**
     * The reader for what arrives from outside (request bodies, WebSocket messages): one JSON value
     * and nothing after it, and no key twice in an object. Lenient parsing would let
     * {@code {"text":"a","text":"b"}} mean whatever the last reader of it decides.
     */
    private static final ObjectReader STRICT = LENIENT
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .with(StreamReadFeature.STRICT_DUPLICATE_DETECTION);

    private Json() {
    }

    /** Serialises {@code value} compactly on one line. */
    public static String write(Object value) {
        return write(COMPACT, value, "");
    }

    /** Serialises {@code value} indented, with a final newline, for files people read. */
    public static String writePretty(Object value) {
        return write(PRETTY, value, "\n");
    }

    private static String write(ObjectWriter writer, Object value, String end) {
        try {
            return writer.writeValueAsString(value) + end;
        } catch (JsonProcessingException e) {
            throw DeiaException.internal("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    /**
     * Parses {@code json} (a file deia wrote, or an answer of a deia process) into {@code type}.
     *
     * @param source names the input in the error ("registry.json", "request body")
     * @throws DeiaException {@link io.deia.core.ErrorCode#INVALID_ARGUMENT} with the parser's reason
     */
    public static <T> T read(String json, Class<T> type, String source) {
        return read(LENIENT, json, type, source, " for " + type.getSimpleName());
    }

    /**
     * Parses input from outside deia (a request body, a WebSocket message) strictly: anything after
     * the first JSON value (a second object, trailing words) and duplicate keys are refused.
     *
     * @throws DeiaException {@link io.deia.core.ErrorCode#INVALID_ARGUMENT} with the parser's reason
     */
    public static <T> T readStrict(String json, Class<T> type, String source) {
        return read(STRICT, json, type, source, "");
    }

    private static <T> T read(ObjectReader reader, String json, Class<T> type, String source, String forType) {
        try {
            T value = reader.forType(type).readValue(json);
            if (value == null) {
                throw DeiaException.invalid("%s is empty or null", source);
            }
            return value;
        } catch (JsonProcessingException e) {
            throw DeiaException.invalid("%s is not valid JSON%s: %s", source, forType, e.getOriginalMessage());
        }
    }

    /**
     * {@code value} mapped to {@code type} as if written and read back (a record to a {@code Map},
     * a parsed tree to a record).
     *
     * @throws DeiaException {@link io.deia.core.ErrorCode#INVALID_ARGUMENT} when it does not map
     */
    public static <T> T convert(Object value, Class<T> type) {
        try {
            return MAPPER.convertValue(value, type);
        } catch (IllegalArgumentException e) {
            throw DeiaException.invalid("not a valid %s: %s", type.getSimpleName(), e.getMessage());
        }
    }

    /** Formats an instant the way every deia file does: ISO-8601 UTC, milliseconds. */
    public static String formatInstant(Instant instant) {
        return instant.truncatedTo(ChronoUnit.MILLIS).toString();
    }

    private static ObjectMapper build() {
        // The module writes every digit an instant has (Instant.now() has microseconds); files keep milliseconds.
        JavaTimeModule time = new JavaTimeModule();
        time.addSerializer(Instant.class, new StdSerializer<>(Instant.class) {
            @Override
            public void serialize(Instant value, JsonGenerator gen, SerializerProvider provider) throws IOException {
                gen.writeString(formatInstant(value));
            }
        });
        JsonFactory limited = JsonFactory.builder().streamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(MAX_NESTING_DEPTH)
                .maxStringLength(16 * 1024 * 1024)
                .build()).build();
        return JsonMapper.builder(limited)
                .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .disable(DeserializationFeature.READ_DATE_TIMESTAMPS_AS_NANOSECONDS)
                .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
                .serializationInclusion(JsonInclude.Include.NON_NULL)
                .addModule(time)
                .build();
    }
}
