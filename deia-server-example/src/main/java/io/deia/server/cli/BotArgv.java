package io.deia.server.cli;

import io.deia.server.DefaultConfig;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads the command line a launcher gives a bot runner, {@code bot --id ID --port N [--profile NAME]
 * [--hive DIR] [--config FILE] [--stop-grace SECONDS]}, without picocli.
 *
 * <p>Why: picocli is compiled for Java 5, and the JVM keeps classes that old out of a class data
 * sharing archive, so every runner parsed and verified ~170 picocli classes and reflected over the
 * command's annotations before its bot even started: measured ~0.2 s of a runner's ~0.8 s of CPU to
 * become healthy, which is what bounds ten runners starting together on two cores.
 *
 * <p>Only a plain, complete, valid use of exactly these options is read here, each at most once, as
 * {@code --opt value} or {@code --opt=value}. Anything else (help, version, a missing, unknown or
 * repeated option, an {@code @file} argument, a value that starts with {@code -} or is not a plain
 * number where one is due, a port outside 1..65535) gives empty, and the caller hands the whole
 * command line to picocli, so usage errors and help read exactly as before.
 */
public final class BotArgv {
    private static final String COMMAND = "bot";
    private static final Set<String> OPTIONS = Set.of("--id", "--port", "--profile", "--hive", "--config",
            "--stop-grace");

    private BotArgv() {
    }

    /** The bot command of {@code args}, ready to {@link BotCommand#call()}, or empty (see the class comment). */
    public static Optional<BotCommand> parse(String... args) {
        if (args.length == 0 || !COMMAND.equals(args[0])) {
            return Optional.empty();
        }
        Map<String, String> values = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String arg = args[i];
            String name;
            String value;
            int eq = arg.indexOf('=');
            if (eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            } else if (i + 1 < args.length) {
                name = arg;
                value = args[++i];
            } else {
                return Optional.empty();
            }
            if (!OPTIONS.contains(name) || value.isEmpty() || value.startsWith("-") || value.startsWith("@")
                    || values.putIfAbsent(name, value) != null) {
                return Optional.empty();
            }
        }
        String id = values.get("--id");
        Integer port = plainNumber(values.get("--port"));
        Integer stopGrace = plainNumber(values.getOrDefault("--stop-grace", "5"));
        if (id == null || port == null || port < 1 || port > 65535 || stopGrace == null) {
            return Optional.empty();
        }
        BotCommand bot = new BotCommand();
        bot.botId = id;
        bot.port = port;
        bot.profileName = values.getOrDefault("--profile", DefaultConfig.DEFAULT_PROFILE);
        bot.stopGraceS = stopGrace;
        bot.hiveOptions = new HiveOptions();
        bot.hiveOptions.hive = Path.of(values.getOrDefault("--hive", HiveOptions.DEFAULT_HIVE));
        String config = values.get("--config");
        bot.hiveOptions.config = config == null ? null : Path.of(config);
        return Optional.of(bot);
    }

    /** The value of 1 to 9 decimal digits, else null (picocli then judges it). */
    private static Integer plainNumber(String value) {
        if (value == null || value.isEmpty() || value.length() > 9) {
            return null;
        }
        for (int i = 0; i < value.length(); i++) {
            if (value.charAt(i) < '0' || value.charAt(i) > '9') {
                return null;
            }
        }
        return Integer.parseInt(value);
    }
}
