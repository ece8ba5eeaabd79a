package io.deia.core.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** The agent CLIs deia drives, with the executable each uses when a profile names none. */
public enum AgentType {
    COMMAND("command", null),
    CLAUDE_CODE("claude-code", "claude"),
    CODEX("codex", "codex"),
    GEMINI("gemini", "gemini");

    private final String id;
    private final String defaultExecutable;

    AgentType(String id, String defaultExecutable) {
        this.id = id;
        this.defaultExecutable = defaultExecutable;
    }

    @JsonValue
    public String id() {
        return id;
    }

    /** The executable looked up on PATH when the profile gives none; null for {@code command}. */
    public String defaultExecutable() {
        return defaultExecutable;
    }

    @JsonCreator
    public static AgentType fromId(String id) {
        for (AgentType t : values()) {
            if (t.id.equals(id)) {
                return t;
            }
        }
        throw new IllegalArgumentException("agent must be one of command, claude-code, codex, gemini; was '" + id + "'");
    }
}
