package io.deia.core.internal.io;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;

/** Strict UTF-8 decoding: invalid bytes are an error that names where they are, never replaced. */
public final class Utf8 {
    private Utf8() {
    }

    /**
     * Decodes {@code bytes} as UTF-8, dropping one leading byte order mark.
     *
     * @param source names the input in the error message (a file path, "request body", …)
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} with the offset of the first bad byte
     */
    public static String decodeStrict(byte[] bytes, String source) {
        boolean bom = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF;
        int start = bom ? 3 : 0;
        ByteBuffer in = ByteBuffer.wrap(bytes, start, bytes.length - start);
        try {
            // a new decoder reports bad input (never replaces it) and leaves the buffer at the bad byte
            return StandardCharsets.UTF_8.newDecoder().decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new DeiaException(ErrorCode.UNPROCESSABLE,
                    source + " is not valid UTF-8: invalid byte sequence at offset " + in.position(), e);
        }
    }
}
