package io.deia.core.permission;

import java.util.Locale;

/** What a person (or the policy, or a timeout) decided about one tool call an agent asked to make. */
public enum PermissionDecision {
    /** Run this call. */
    ALLOW,
    /** Run this call, and calls like it for the rest of the agent's session without asking again. */
    ALLOW_SESSION,
    /** Do not run it; the agent is told why. */
    DENY;

    /** The wire name: {@code allow}, {@code allow_session}, {@code deny}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The decision named {@code id}.
     *
     * @throws IllegalArgumentException naming the accepted values
     */
    public static PermissionDecision of(String id) {
        for (PermissionDecision d : values()) {
            if (d.id().equals(id)) {
                return d;
            }
        }
        throw new IllegalArgumentException("decision must be allow, allow_session or deny, was '" + id + "'");
    }

    /** True for {@link #ALLOW} and {@link #ALLOW_SESSION}. */
    public boolean allows() {
        return this != DENY;
    }
}
