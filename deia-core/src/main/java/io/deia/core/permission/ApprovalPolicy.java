package io.deia.core.permission;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A profile's {@code approval} settings: whether the agent's risky tool calls wait for a person.
 *
 * <pre>{@code
 * "approval": {"mode": "ask", "timeout_s": 900,
 *              "allow": ["Read", "Grep", "Bash(git status*)"], "deny": ["Bash(rm -rf*)", "Bash(*sudo*)"]}
 * }</pre>
 *
 * <p>{@code auto} (the default) leaves every decision to the CLI's own permission mode. In
 * {@code ask} mode a call matching a {@code deny} rule is denied at once, one matching an
 * {@code allow} rule is allowed at once (deny wins when both match), and any other waits for a
 * person; nobody answering within {@code timeout_s} denies it.
 *
 * <p>A rule is a tool name ({@code Read}: every call of that tool) or a tool name with a pattern
 * over the call's {@linkplain ToolCall#subject() subject} ({@code Bash(git status*)}: the shell
 * command), where {@code *} matches any characters, everything else itself, case-sensitively.
 *
 * @param mode     {@code ask} or {@code auto}
 * @param timeoutS seconds a request waits for a person before it is denied (900)
 * @param allow    rules allowed without asking
 * @param deny     rules denied without asking
 */
public record ApprovalPolicy(String mode, Integer timeoutS, List<String> allow, List<String> deny) {
    /** The default: the CLI's own permission mode decides. */
    public static final ApprovalPolicy AUTO = new ApprovalPolicy("auto", null, null, null);
    private static final Pattern RULE = Pattern.compile("^([A-Za-z0-9_.:-]+)(?:\\((.*)\\))?$", Pattern.DOTALL);

    public ApprovalPolicy {
        mode = mode == null ? "auto" : mode.toLowerCase(Locale.ROOT);
        if (!mode.equals("ask") && !mode.equals("auto")) {
            throw new IllegalArgumentException("approval.mode must be ask or auto, was '" + mode + "'");
        }
        timeoutS = timeoutS == null ? 900 : timeoutS;
        if (timeoutS < 1 || timeoutS > 7 * 24 * 3600) {
            throw new IllegalArgumentException("approval.timeout_s must be 1..604800, was " + timeoutS);
        }
        allow = allow == null ? List.of() : List.copyOf(allow);
        deny = deny == null ? List.of() : List.copyOf(deny);
        for (String rule : allow) {
            check("approval.allow", rule);
        }
        for (String rule : deny) {
            check("approval.deny", rule);
        }
    }

    /** True in {@code ask} mode: the CLI's requests are relayed. */
    public boolean asks() {
        return mode.equals("ask");
    }

    /** How long a request waits for a person. */
    public Duration timeout() {
        return Duration.ofSeconds(timeoutS);
    }

    /**
     * What the rules decide about {@code call} without a person: {@link PermissionDecision#DENY} when a
     * {@code deny} rule matches, {@link PermissionDecision#ALLOW} when an {@code allow} rule does, else empty.
     */
    public Optional<PermissionDecision> decide(ToolCall call) {
        if (deny.stream().anyMatch(r -> matches(r, call))) {
            return Optional.of(PermissionDecision.DENY);
        }
        if (allow.stream().anyMatch(r -> matches(r, call))) {
            return Optional.of(PermissionDecision.ALLOW);
        }
        return Optional.empty();
    }

    /** True when {@code rule} covers {@code call}. */
    public static boolean matches(String rule, ToolCall call) {
        Matcher m = RULE.matcher(rule.strip());
        if (!m.matches() || !m.group(1).equals(call.tool())) {
            return false;
        }
        return m.group(2) == null || glob(m.group(2)).matcher(call.subject()).matches();
    }

    private static Pattern glob(String pattern) {
        String[] parts = pattern.split("\\*", -1);
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                re.append(".*");
            }
            re.append(Pattern.quote(parts[i]));
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }

    private static void check(String field, String rule) {
        if (rule == null || !RULE.matcher(rule.strip()).matches()) {
            throw new IllegalArgumentException(field + " rule '" + rule + "' is not Tool or Tool(pattern)");
        }
    }
}
