package io.deia.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.permission.PermissionDecision;
import org.eclipse.jetty.server.Request;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The body of {@code POST …/permissions/{request_id}}, {@code {"decision": "allow|allow_session|deny",
 * "message": "optional"}}, read and checked the same way on the bot port and on the controller.
 *
 * @param decision what the person decided
 * @param message  what the agent is told, or null
 */
public record PermissionAnswerBody(PermissionDecision decision, String message) {

    /**
     * Reads the request's body.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} for a body that is not a JSON object, a missing
     *                       or unknown decision, a message that is not a string or is too long;
     *                       {@code PAYLOAD_TOO_LARGE} over {@code maxBytes}
     */
    public static PermissionAnswerBody read(Request request, long maxBytes) {
        JsonNode body = RequestBodies.readJsonObject(request, maxBytes);
        String decision = RequestBodies.requireText(body, "decision");
        String message = RequestBodies.optionalText(body, "message");
        if (message != null && message.length() > PermissionBroker.MAX_MESSAGE_CHARS) {
            throw DeiaException.invalid("field 'message' is longer than %d characters", PermissionBroker.MAX_MESSAGE_CHARS);
        }
        try {
            return new PermissionAnswerBody(PermissionDecision.of(decision), message);
        } catch (IllegalArgumentException e) {
            throw DeiaException.invalid("field 'decision' must be allow, allow_session or deny, was '%s'",
                    LogSafe.printable(decision, 40));
        }
    }

    /**
     * The request id of a path's last segment, checked before it is used anywhere.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} when it is not {@code perm-} and 24 hex digits
     */
    public static String requireRequestId(String segment) {
        if (!PermissionBroker.isRequestId(segment)) {
            throw DeiaException.invalid("request id '%s' is invalid; expected %s", LogSafe.printable(segment, 80),
                    PermissionBroker.REQUEST_ID.pattern());
        }
        return segment;
    }

    /** The body as JSON fields, to forward. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("decision", decision.id());
        if (message != null) {
            m.put("message", message);
        }
        return m;
    }
}
