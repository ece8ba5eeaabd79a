package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads one line of a CLI's JSON-lines output. A line that is not a JSON object is logged and
 * skipped: a CLI printing something unexpected must never end the bot's turn, let alone the bot.
 */
final class StreamLines {
    private static final Logger log = LoggerFactory.getLogger(StreamLines.class);

    private StreamLines() {
    }

    /**
     * The line as a JSON object, or null for a blank line or one that is not a JSON object (logged
     * with the bot id and the CLI's name).
     */
    static JsonNode object(String botId, String cli, String line) {
        if (line.isBlank()) {
            return null;
        }
        JsonNode node;
        try {
            node = Json.read(line, JsonNode.class, cli + " output line");
        } catch (RuntimeException e) {
            node = null;
        }
        if (node == null || !node.isObject()) {
            log.warn("[{}] skipping a {} output line that is not a JSON object ({} chars): {}", botId, cli,
                    line.length(), abbreviate(line));
            return null;
        }
        return node;
    }

    /** At most 200 characters of a line, for a log message. */
    static String abbreviate(String line) {
        return line.length() <= 200 ? line : line.substring(0, 200) + "…";
    }
}
