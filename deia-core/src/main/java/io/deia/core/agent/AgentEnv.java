package io.deia.core.agent;

import io.deia.core.DeiaException;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The environment an agent process gets. It starts clean instead of inheriting the bot's
 * environment, so that nothing of the bot runner (tokens, proxies, the controller's secrets) leaks
 * into a third-party CLI by accident. It holds:
 * <ul>
 *   <li>{@code PATH}, {@code LANG}, {@code TZ}, {@code TMPDIR} from the bot's environment
 *       ({@code LANG} defaults to {@code C.UTF-8}; {@code PATH} to {@code /usr/local/bin:/usr/bin:/bin});</li>
 *   <li>{@code HOME} = the bot's agent home ({@code bots/<id>/home});</li>
 *   <li>the adapter's own variables (e.g. {@code CLAUDE_CONFIG_DIR});</li>
 *   <li>{@code profile.env} (plain values, may be logged) and then {@code profile.secret_env}
 *       (agent variable → name of a variable of the bot's environment; values are never logged).</li>
 * </ul>
 * Later entries win, so a profile may override what an adapter sets.
 */
final class AgentEnv {
    private static final Set<String> INHERITED = Set.of("PATH", "LANG", "TZ", "TMPDIR");

    private AgentEnv() {
    }

    /**
     * Builds the environment for {@code context}'s agent.
     *
     * @param adapterEnv the adapter's variables, applied before the profile's
     * @throws DeiaException (unprocessable) when a secret_env entry names a variable the bot does not have
     */
    static Map<String, String> build(AgentContext context, Map<String, String> adapterEnv) {
        Map<String, String> parent = context.parentEnv();
        Map<String, String> env = new LinkedHashMap<>();
        for (String name : INHERITED) {
            String value = parent.get(name);
            if (value != null) {
                env.put(name, value);
            }
        }
        env.putIfAbsent("PATH", "/usr/local/bin:/usr/bin:/bin");
        env.putIfAbsent("LANG", "C.UTF-8");
        env.put("HOME", context.home().toAbsolutePath().toString());
        // Lets a command agent (scripts, the demo agent) know whom it serves without a profile per bot.
        env.put("DEIA_BOT_ID", context.botId());
        env.put("DEIA_HIVE", context.hive().root().toString());
        env.putAll(adapterEnv);
        env.putAll(context.profile().env());
        for (Map.Entry<String, String> secret : context.profile().secretEnv().entrySet()) {
            String value = parent.get(secret.getValue());
            if (value == null) {
                throw DeiaException.unprocessable("profile %s: secret_env %s refers to %s, which is not set in the bot's environment",
                        context.profile().name(), secret.getKey(), secret.getValue());
            }
            env.put(secret.getKey(), value);
        }
        return env;
    }

    /** The variable names only, for log lines (values may be secrets). */
    static Set<String> names(Map<String, String> env) {
        return new TreeSet<>(env.keySet());
    }
}
