package io.deia.core.testkit;

import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;

import java.util.List;
import java.util.Map;

/** Short ways to build {@link Profile}s in tests (the record has many optional fields). */
public final class TestProfiles {
    private TestProfiles() {
    }

    /** A {@code command} profile running {@code argv}. */
    public static Profile command(String... argv) {
        return profile(AgentType.COMMAND, argv[0], List.of(argv).subList(1, argv.length), null, null, List.of(), Map.of(), Map.of());
    }

    /** A {@code command} profile whose args take the prompt ({@code {prompt}}, {@code prompt_mode: arg}). */
    public static Profile commandWithPromptInArgv(String... argv) {
        return new Profile("test-command", AgentType.COMMAND, argv[0], List.of(argv).subList(1, argv.length), "arg", null,
                null, List.of(), null, Map.of(), Map.of(), 60, null, null, null, null, null, null, null);
    }

    /** A profile with the fields the agent adapters read; everything else takes its default. */
    public static Profile profile(AgentType type, String executable, List<String> args, String model, String permissionMode,
                                  List<String> allowedTools, Map<String, String> env, Map<String, String> secretEnv) {
        return new Profile("test-" + type.id(), type, executable, args, null, model, permissionMode, allowedTools, null,
                env, secretEnv, 60, null, null, null, null, null, null, null);
    }
}
