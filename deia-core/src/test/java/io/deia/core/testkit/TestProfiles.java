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
        return Profile.builder(AgentType.COMMAND).name("test-command").executable(argv[0])
                .args(List.of(argv).subList(1, argv.length)).promptMode("arg").timeoutS(60).build();
    }

    /** A profile with the fields the agent adapters read; everything else takes its default. */
    public static Profile profile(AgentType type, String executable, List<String> args, String model, String permissionMode,
                                  List<String> allowedTools, Map<String, String> env, Map<String, String> secretEnv) {
        return Profile.builder(type).name("test-" + type.id()).executable(executable).args(args).model(model)
                .permissionMode(permissionMode).allowedTools(allowedTools).env(env).secretEnv(secretEnv).timeoutS(60)
                .build();
    }
}
