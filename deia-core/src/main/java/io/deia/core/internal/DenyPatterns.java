package io.deia.core.internal;

import io.deia.core.DeiaException;
import io.deia.core.config.Profile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A profile's {@link Profile#denyPatterns() deny patterns}, compiled once, checked against every
 * prompt before an agent sees it, whichever way it came in: a chat message through the controller,
 * a bot's own {@code /message}, a task submitted over the API or dropped into the inbox. Chat is
 * checked where the bot takes a message ({@code BotRuntime}), tasks where the task monitor starts
 * one; the controller checks chat early as well so the client gets its 422 before anything is queued.
 *
 * <p>Defence in depth against obvious mistakes, not a sandbox: a determined user can always phrase
 * a request differently. The agent's own permission mode is the real control.
 */
public final class DenyPatterns {
    private static final Logger log = LoggerFactory.getLogger(DenyPatterns.class);

    /** No patterns: refuses nothing. */
    public static final DenyPatterns NONE = new DenyPatterns("", List.of());

    private final String profileName;
    private final List<Pattern> patterns;

    private DenyPatterns(String profileName, List<Pattern> patterns) {
        this.profileName = profileName;
        this.patterns = patterns;
    }

    /** The compiled patterns of {@code profile} (the config loader has checked that they compile). */
    public static DenyPatterns of(Profile profile) {
        Objects.requireNonNull(profile, "profile");
        return new DenyPatterns(profile.name(), profile.denyPatterns().stream().map(Pattern::compile).toList());
    }

    /** Why {@code text} is refused (the first pattern found anywhere in it), as said to the sender, or empty when none matches. */
    public Optional<String> refusal(String what, String text) {
        return patterns.stream().filter(p -> p.matcher(text).find()).findFirst()
                .map(p -> what + " refused: it matches the deny pattern '" + p.pattern() + "' of profile " + profileName);
    }

    /**
     * Returns normally when no pattern matches {@code text}; else logs the refusal (without the
     * text: it may hold something the user did not mean to keep) and throws.
     *
     * @param what names the prompt in the message ({@code message}, {@code task T-1})
     * @throws DeiaException {@code UNPROCESSABLE} (422) naming the pattern and the profile
     */
    public void check(String botId, String what, String text) {
        Optional<String> refused = refusal(what, text);
        if (refused.isPresent()) {
            log.warn("[{}] {}", botId, refused.get());
            throw DeiaException.unprocessable("%s", refused.get());
        }
    }
}
