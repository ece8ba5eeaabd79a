package io.deia.core.permission;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One tool call an agent CLI asks permission for, in deia's terms (each agent adapter maps its
 * CLI's request to this).
 *
 * <p>Tool names follow Claude Code's: {@code Bash} for a shell command, {@code Edit} / {@code Write}
 * for file changes, {@code Read}, {@code WebFetch}, ...; adapters of other CLIs map theirs onto
 * these where one fits (Codex's command execution is {@code Bash}, its file change {@code Edit}) and
 * keep the CLI's own name otherwise.
 *
 * @param tool        the tool's name
 * @param subject     the short thing a person judges: the shell command, the file path; "" when none
 * @param input       the call's full input as the CLI sent it (shown to the person, bounded)
 * @param suggestions human-readable forms of what the CLI offers to remember for the session, if any
 */
public record ToolCall(String tool, String subject, Map<String, Object> input, List<String> suggestions) {
    public ToolCall {
        Objects.requireNonNull(tool, "tool");
        subject = subject == null ? "" : subject;
        input = input == null ? Map.of() : input;
        suggestions = suggestions == null ? List.of() : List.copyOf(suggestions);
    }
}
