package io.deia.core.chat;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.DenyPatterns;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks a chat message before anything reaches a bot: not empty, at most
 * {@link DeiaConfig#maxMessageBytes()} bytes of UTF-8, encodable as UTF-8 (no lone surrogates), no
 * control characters except newline and tab, and no match of the profile's
 * {@link Profile#denyPatterns() deny patterns}.
 *
 * <p>The deny list is defence in depth against obvious mistakes, not a sandbox: a determined user
 * can always phrase a request differently. The agent's own permission mode is the real control.
 */
final class MessageValidator {
    private final DeiaConfig config;
    private final Map<String, DenyPatterns> compiled = new ConcurrentHashMap<>();

    public MessageValidator(DeiaConfig config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    /**
     * Returns normally when {@code text} may be sent to {@code botId}, which runs {@code profileName}.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} (empty, control characters, not UTF-8),
     *                       {@code PAYLOAD_TOO_LARGE} (over the limit), {@code UNPROCESSABLE} (deny pattern)
     */
    public void validate(String botId, String profileName, String text) {
        if (text == null || text.isBlank()) {
            throw DeiaException.invalid("message text is empty");
        }
        int bytes = utf8Length(text);
        if (bytes > config.maxMessageBytes()) {
            throw DeiaException.tooLarge("message is %d bytes; at most %d are allowed", bytes, config.maxMessageBytes());
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if ((c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7f && c <= 0x9f)) {
                throw DeiaException.invalid("message contains control character U+%04X at index %d; only newline and tab are allowed",
                        (int) c, i);
            }
        }
        if (profileName == null) {
            return;
        }
        patterns(profileName).check(botId, "message", text);
    }

    private DenyPatterns patterns(String profileName) {
        return compiled.computeIfAbsent(profileName, name -> config.profile(name)
                .map(DenyPatterns::of)
                .orElse(DenyPatterns.NONE));
    }

    private static int utf8Length(String text) {
        try {
            ByteBuffer encoded = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(text));
            return encoded.remaining();
        } catch (CharacterCodingException e) {
            throw DeiaException.invalid("message is not valid UTF-8 text (lone surrogate)");
        }
    }
}
