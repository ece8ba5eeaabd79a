package io.deia.core.io;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
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
        int start = hasBom(bytes) ? 3 : 0;
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, start, bytes.length - start);
        CharBuffer out = CharBuffer.allocate((int) Math.ceil((bytes.length - start) * (double) decoder.maxCharsPerByte()) + 1);
        try {
            var result = decoder.decode(in, out, true);
            if (result.isError()) {
                throw new DeiaException(ErrorCode.UNPROCESSABLE,
                        source + " is not valid UTF-8: invalid byte sequence at offset " + in.position());
            }
            result = decoder.flush(out);
            if (result.isError()) {
                result.throwException();
            }
        } catch (CharacterCodingException e) {
            throw new DeiaException(ErrorCode.UNPROCESSABLE, source + " is not valid UTF-8: " + e, e);
        }
        out.flip();
        return out.toString();
    }

    /** True when {@code bytes} decode as UTF-8 without error. */
    public static boolean isValid(byte[] bytes) {
        try {
            decodeStrict(bytes, "input");
            return true;
        } catch (DeiaException e) {
            return false;
        }
    }

    static boolean hasBom(byte[] bytes) {
        return bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF;
    }
}
