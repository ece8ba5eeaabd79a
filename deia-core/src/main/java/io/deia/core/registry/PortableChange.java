package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedMap;

/**
 * A registry change written as data instead of code, so that another process holding the registry
 * lock can apply it on behalf of the process that asked for it (see {@link RegistryCommitter},
 * cross-process combining). Only changes whose whole meaning lies in their arguments qualify:
 * {@code heartbeat(botId, state)} and {@code deregister(botId)}, the steady traffic of running bots.
 * Everything else ({@code register}, {@code reserve}, {@code update}, {@code reapStale}) is applied
 * by its own process under the lock, as before.
 *
 * <p>The same code applies the change whether its own process or another one does it, so the
 * result is the same; the result travels back as JSON in the registry file's ledger.
 *
 * @param op    {@link #HEARTBEAT} or {@link #DEREGISTER}
 * @param botId the bot, validated
 * @param state the heartbeat's state; null for a deregister
 */
record PortableChange(String op, String botId, BotState state) {
    static final String HEARTBEAT = "heartbeat";
    static final String DEREGISTER = "deregister";

    private static final Logger log = LoggerFactory.getLogger(PortableChange.class);

    PortableChange {
        Objects.requireNonNull(op, "op");
        BotIds.requireValid(botId);
        switch (op) {
            case HEARTBEAT -> Objects.requireNonNull(state, "a heartbeat needs a state");
            case DEREGISTER -> {
                if (state != null) {
                    throw DeiaException.invalid("a deregister carries no state");
                }
            }
            default -> throw DeiaException.invalid("unknown registry change '%s'", RegistryFile.printable(op));
        }
    }

    static PortableChange heartbeat(String botId, BotState state) {
        return new PortableChange(HEARTBEAT, botId, Objects.requireNonNull(state, "state"));
    }

    static PortableChange deregister(String botId) {
        return new PortableChange(DEREGISTER, botId, null);
    }

    /**
     * Applies the change to {@code bots}: a heartbeat sets state and heartbeat time of a registered
     * bot ({@code Optional<BotRecord>}, empty when it is not registered); a deregister removes the
     * entry ({@code Boolean}, false when there was none).
     */
    Object apply(SortedMap<String, BotRecord> bots) {
        if (HEARTBEAT.equals(op)) {
            BotRecord existing = bots.get(botId);
            if (existing == null) {
                log.debug("[{}] heartbeat ignored: not registered", botId);
                return Optional.empty();
            }
            BotRecord beat = existing.toBuilder().state(state).lastHeartbeat(Instant.now().truncatedTo(ChronoUnit.MILLIS)).build();
            bots.put(botId, beat);
            if (existing.state() != beat.state()) {
                log.info("[{}] state {} -> {}", botId, existing.state().id(), beat.state().id());
            } else {
                log.debug("[{}] updated (state {})", botId, beat.state().id());
            }
            return Optional.of(beat);
        }
        BotRecord removed = bots.remove(botId);
        if (removed == null) {
            return false;
        }
        log.info("[{}] deregistered (pid {}, port {}, was {})", botId, removed.pid(), removed.port(), removed.state().id());
        return true;
    }

    /**
     * The side effect on the bot's heartbeat file, under the lock after the durable registry write.
     * A heartbeat writes the file only for an entry that is in the file as written (a later change
     * of the same batch may have removed it), so a deregister cannot have its deletion undone. A
     * deregister deletes it, also when a later change of the batch registered the id again: the
     * file describes the removed process.
     */
    void afterWrite(Object result, Map<String, BotRecord> committed, RegistryFile file) {
        if (HEARTBEAT.equals(op)) {
            BotRecord current = committed.get(botId);
            if (((Optional<?>) result).isPresent() && current != null) {
                file.writeHeartbeat(current);
            }
        } else if (Boolean.TRUE.equals(result)) {
            file.deleteHeartbeat(botId);
        }
    }

    /** The result as stored in the ledger: the record (or null) of a heartbeat, true/false of a deregister. */
    JsonNode encodeResult(Object result) {
        if (HEARTBEAT.equals(op)) {
            Optional<?> beat = (Optional<?>) result;
            return beat.isPresent() ? Json.mapper().valueToTree(beat.get()) : NullNode.getInstance();
        }
        return BooleanNode.valueOf((Boolean) result);
    }

    /** The ledger form of a change that threw: its error code and message. */
    static JsonNode encodeError(RuntimeException e) {
        ObjectNode error = Json.mapper().createObjectNode();
        ErrorCode code = e instanceof DeiaException de ? de.code() : ErrorCode.INTERNAL;
        error.putObject("error").put("code", code.id()).put("message", String.valueOf(e.getMessage()));
        return error;
    }

    /**
     * The result read back from the ledger, as the same type {@link #apply} returns. An error
     * stored there is thrown as a {@link DeiaException} with its code and message.
     */
    Object decodeResult(JsonNode stored) {
        if (stored != null && stored.isObject() && stored.has("error")) {
            JsonNode error = stored.get("error");
            throw new DeiaException(ErrorCode.fromId(error.path("code").asText()), error.path("message").asText());
        }
        if (HEARTBEAT.equals(op)) {
            if (stored == null || stored.isNull()) {
                return Optional.empty();
            }
            try {
                return Optional.of(Json.mapper().treeToValue(stored, BotRecord.class));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw DeiaException.internal("unreadable heartbeat result in the registry ledger", e);
            }
        }
        return stored != null && stored.asBoolean();
    }
}
