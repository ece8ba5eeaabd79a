package io.deia.core.registry;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import io.deia.core.DeiaException;
import io.deia.core.io.Json;

import java.io.IOException;
import java.io.StringWriter;
import java.time.Instant;

/**
 * {@link BotRecord} to and from JSON with jackson-core's streaming API, for the registry's hot
 * path: every registry update serialises the changed entry and parses the entry another process
 * changed, and every heartbeat writes the bot's heartbeat file.
 *
 * <p>Why not the shared {@link Json#mapper()}: a record mapped through databind walks bean
 * serialisers, a tree and a {@code TreeTraversingParser}, and that much code is what a bot runner's
 * JIT was still compiling seconds into a run (measured: C2 took half the CPU of four registry
 * writers after 5 s). Here each field is one token.
 *
 * <p>The text written is exactly {@code Json.writePretty(record)} (same field order, names,
 * omitted nulls, {@code status} repeating {@code state}, escaping); a test holds the two together.
 * Reading takes the common, well-formed case: an entry holding anything else (a value of an
 * unexpected JSON type, a number out of range, an instant in another notation, an unknown state,
 * a bot id the record refuses) yields null, and the caller maps it with databind as before, so odd
 * input is accepted or reported exactly as it always was.
 */
final class BotRecordJson {
    /**
     * A plain factory with the same read limits as {@link Json#mapper()}'s, so parsing an entry
     * does not need the databind mapper.
     */
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(Json.MAX_NESTING_DEPTH)
                    .maxStringLength(16 * 1024 * 1024)
                    .build())
            .build();

    private BotRecordJson() {
    }

    /** A generator for registry text, indented like {@link Json#writePretty}. */
    static JsonGenerator prettyGenerator(StringWriter out) throws IOException {
        JsonGenerator g = FACTORY.createGenerator(out);
        g.setPrettyPrinter(new DefaultPrettyPrinter());
        return g;
    }

    /** The same text as {@code Json.writePretty(record)}: indented, with a final newline. */
    static String pretty(BotRecord record) {
        StringWriter out = new StringWriter(512);
        try (JsonGenerator g = prettyGenerator(out)) {
            write(g, record);
        } catch (IOException e) {
            throw DeiaException.internal("cannot serialise the entry of " + record.botId(), e);
        }
        return out.append('\n').toString();
    }

    /** Writes {@code r} as one JSON object at the generator's position. */
    static void write(JsonGenerator g, BotRecord r) throws IOException {
        g.writeStartObject();
        g.writeStringField("bot_id", r.botId());
        g.writeNumberField("pid", r.pid());
        instant(g, "process_start", r.processStart());
        string(g, "host", r.host());
        g.writeNumberField("port", r.port());
        g.writeStringField("state", r.state().id());
        string(g, "profile", r.profile());
        string(g, "agent", r.agent());
        instant(g, "registered_at", r.registeredAt());
        instant(g, "last_heartbeat", r.lastHeartbeat());
        g.writeNumberField("restarts", r.restarts());
        string(g, "last_error", r.lastError());
        if (r.lastExitCode() != null) {
            g.writeNumberField("last_exit_code", r.lastExitCode());
        }
        g.writeNumberField("launcher_pid", r.launcherPid());
        instant(g, "launcher_start", r.launcherStart());
        g.writeBooleanField("wanted", r.wanted());
        instant(g, "last_error_at", r.lastErrorAt());
        g.writeStringField("status", r.status());
        g.writeEndObject();
    }

    private static void string(JsonGenerator g, String name, String value) throws IOException {
        if (value != null) {
            g.writeStringField(name, value);
        }
    }

    private static void instant(JsonGenerator g, String name, Instant value) throws IOException {
        if (value != null) {
            g.writeStringField(name, Json.formatInstant(value));
        }
    }

    /**
     * The record in {@code text}, one JSON object, filed under {@code id} (its {@code bot_id}, when
     * missing); null when the text is not the common well-formed case (see the class comment), and
     * also when it is not valid JSON: the caller's databind path then gives the reason.
     */
    static BotRecord read(String id, String text) {
        try (JsonParser p = FACTORY.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            BotRecord.Builder b = BotRecord.builder(null).lastErrorAt(null); // stored entries carry their own time
            String botId = null;
            String state = null;
            for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                switch (name) {
                    case "bot_id" -> botId = text(p, v);
                    case "pid" -> b.pid(longValue(p, v));
                    case "process_start" -> b.processStart(instant(p, v));
                    case "host" -> b.host(text(p, v));
                    case "port" -> b.port(intValue(p, v));
                    case "state" -> state = text(p, v);
                    case "profile" -> b.profile(text(p, v));
                    case "agent" -> b.agent(text(p, v));
                    case "registered_at" -> b.registeredAt(instant(p, v));
                    case "last_heartbeat" -> b.lastHeartbeat(instant(p, v));
                    case "restarts" -> b.restarts(intValue(p, v));
                    case "last_error" -> b.lastError(text(p, v));
                    case "last_error_at" -> b.lastErrorAt(instant(p, v));
                    case "last_exit_code" -> b.lastExitCode(v == JsonToken.VALUE_NULL ? null : intValue(p, v));
                    case "launcher_pid" -> b.launcherPid(longValue(p, v));
                    case "launcher_start" -> b.launcherStart(instant(p, v));
                    case "wanted" -> b.wanted(bool(v));
                    // status repeats state and is never read back; unknown fields come from newer writers.
                    default -> p.skipChildren();
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null || state == null) {
                return null;
            }
            return b.botId(botId == null ? id : botId).state(BotState.valueOf(upperAscii(state))).build();
        } catch (IOException | NotCommonCase | RuntimeException e) {
            // RuntimeException: an unknown state, or a value the record's constructor refuses.
            return null;
        }
    }

    /** Thrown inside {@link #read} when a value is not of the common form; never leaves it. */
    private static final class NotCommonCase extends Exception {
        private static final NotCommonCase INSTANCE = new NotCommonCase();

        private NotCommonCase() {
            super(null, null, false, false);
        }
    }

    private static String text(JsonParser p, JsonToken v) throws IOException, NotCommonCase {
        if (v == JsonToken.VALUE_STRING) {
            return p.getText();
        }
        if (v == JsonToken.VALUE_NULL) {
            return null;
        }
        throw NotCommonCase.INSTANCE;
    }

    private static boolean bool(JsonToken v) throws NotCommonCase {
        if (v == JsonToken.VALUE_TRUE || v == JsonToken.VALUE_FALSE) {
            return v == JsonToken.VALUE_TRUE;
        }
        throw NotCommonCase.INSTANCE;
    }

    private static long longValue(JsonParser p, JsonToken v) throws IOException, NotCommonCase {
        if (v == JsonToken.VALUE_NUMBER_INT && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
            return p.getLongValue();
        }
        throw NotCommonCase.INSTANCE;
    }

    private static int intValue(JsonParser p, JsonToken v) throws IOException, NotCommonCase {
        if (v == JsonToken.VALUE_NUMBER_INT && p.getNumberType() == JsonParser.NumberType.INT) {
            return p.getIntValue();
        }
        throw NotCommonCase.INSTANCE;
    }

    private static Instant instant(JsonParser p, JsonToken v) throws IOException, NotCommonCase {
        if (v == JsonToken.VALUE_NULL) {
            return null;
        }
        if (v == JsonToken.VALUE_STRING) {
            Instant parsed = Json.parseCanonicalInstant(p.getText());
            if (parsed != null) {
                return parsed;
            }
        }
        throw NotCommonCase.INSTANCE;
    }

    /** {@code BotState.fromId} without its locale-aware case mapping: ids are ASCII. */
    private static String upperAscii(String s) {
        char[] c = s.toCharArray();
        for (int i = 0; i < c.length; i++) {
            if (c[i] >= 'a' && c[i] <= 'z') {
                c[i] = (char) (c[i] - ('a' - 'A'));
            }
        }
        return new String(c);
    }
}
