package io.deia.core.agent;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/** How a turn ended. */
public enum TurnStatus {
    COMPLETED, FAILED, TIMEOUT, INTERRUPTED;

    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static TurnStatus fromId(String id) {
        return valueOf(id.toUpperCase(Locale.ROOT));
    }
}
