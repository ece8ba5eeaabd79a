package io.deia.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.Utf8;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;

import java.io.IOException;
import java.io.InputStream;

/**
 * Reads request bodies with a size limit (over it: 413 before the rest is read) as strict UTF-8
 * (invalid bytes: 400) and parses them as JSON strictly (malformed, trailing content after the
 * value or a key given twice: 400). Call from a handler that may block.
 */
public final class RequestBodies {
    private RequestBodies() {
    }

    /**
     * The body's bytes, at most {@code maxBytes}.
     *
     * @throws DeiaException {@code PAYLOAD_TOO_LARGE} when the declared or actual length is over the limit
     */
    public static byte[] readBytes(Request request, long maxBytes) {
        long declared = request.getLength();
        if (declared > maxBytes) {
            throw DeiaException.tooLarge("request body is %d bytes; the limit is %d", declared, maxBytes);
        }
        int limit = (int) Math.min(Integer.MAX_VALUE - 8, maxBytes);
        try (InputStream in = Content.Source.asInputStream(request)) {
            byte[] data = in.readNBytes(limit + 1);
            if (data.length > limit) {
                throw DeiaException.tooLarge("request body is larger than the limit of %d bytes", maxBytes);
            }
            return data;
        } catch (IOException e) {
            throw DeiaException.invalid("cannot read request body: %s", e.getMessage());
        }
    }

    /**
     * The body as text.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} when it is not valid UTF-8, {@code PAYLOAD_TOO_LARGE} over the limit
     */
    public static String readUtf8(Request request, long maxBytes) {
        byte[] data = readBytes(request, maxBytes);
        try {
            return Utf8.decodeStrict(data, "request body");
        } catch (DeiaException e) {
            throw new DeiaException(ErrorCode.INVALID_ARGUMENT, e.getMessage(), e);
        }
    }

    /**
     * The body parsed as a JSON object.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} for an empty body, malformed JSON or a non-object
     */
    public static JsonNode readJsonObject(Request request, long maxBytes) {
        String text = readUtf8(request, maxBytes);
        if (text.isBlank()) {
            throw DeiaException.invalid("request body is empty; a JSON object is expected");
        }
        JsonNode node = Json.readStrict(text, JsonNode.class, "request body");
        if (!node.isObject()) {
            throw DeiaException.invalid("request body must be a JSON object");
        }
        return node;
    }

    /**
     * A required string field of a JSON object.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} naming the field when it is absent or not a string
     */
    public static String requireText(JsonNode object, String field) {
        JsonNode value = object.get(field);
        if (value == null || value.isNull()) {
            throw DeiaException.invalid("field '%s' is required", field);
        }
        if (!value.isTextual()) {
            throw DeiaException.invalid("field '%s' must be a string", field);
        }
        return value.asText();
    }

    /** An optional string field: null when absent or null. */
    public static String optionalText(JsonNode object, String field) {
        JsonNode value = object.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw DeiaException.invalid("field '%s' must be a string", field);
        }
        return value.asText();
    }
}
