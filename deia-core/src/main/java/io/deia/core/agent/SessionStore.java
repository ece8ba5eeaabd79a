package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The CLI session a bot's agent carries across turns and bot restarts, kept in
 * {@code bots/<id>/agent-session.json} ({@code {"agent","session_id","cwd","updated_at"}}).
 * A file written for another agent type or another workspace is ignored: the CLIs find their
 * sessions by working folder, so such a session could not be resumed anyway.
 */
final class SessionStore {
    private static final Logger log = LoggerFactory.getLogger(SessionStore.class);
    static final String FILE_NAME = "agent-session.json";

    private final String botId;
    private final String agentType;
    private final Path file;
    private final String cwd;

    SessionStore(AgentContext context, String agentType) {
        this.botId = context.botId();
        this.agentType = agentType;
        this.file = context.hive().botDir(botId).resolve(FILE_NAME);
        this.cwd = context.workspace().toAbsolutePath().toString();
    }

    /** The stored session id, or null when there is none usable. */
    String load() {
        if (!Files.exists(file)) {
            return null;
        }
        try {
            JsonNode node = Json.read(AtomicFiles.readString(file), JsonNode.class, file.toString());
            if (!agentType.equals(node.path("agent").asText()) || !cwd.equals(node.path("cwd").asText())) {
                log.info("[{}] ignoring {}: written for another agent or workspace", botId, file);
                return null;
            }
            String id = node.path("session_id").asText("");
            return id.isBlank() ? null : id;
        } catch (RuntimeException e) {
            log.warn("[{}] ignoring unreadable {}: {}", botId, file, e.getMessage());
            return null;
        }
    }

    /** Stores {@code sessionId}, or removes the file when it is null. */
    void save(String sessionId) {
        try {
            if (sessionId == null) {
                Files.deleteIfExists(file);
                log.info("[{}] forgot the {} session", botId, agentType);
                return;
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("agent", agentType);
            body.put("session_id", sessionId);
            body.put("cwd", cwd);
            body.put("updated_at", Json.formatInstant(Instant.now()));
            AtomicFiles.writeString(file, Json.write(body));
            log.info("[{}] {} session {} saved", botId, agentType, sessionId);
        } catch (java.io.IOException | RuntimeException e) {
            log.warn("[{}] cannot save the {} session in {}: {}", botId, agentType, file, e.getMessage());
        }
    }
}
