package io.deia.server.torture;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;

/**
 * The fuzz input generator: random bytes, random JSON, and mutations of valid seeds (bit flips,
 * insertions of bytes and "interesting" tokens, deletions, duplications, truncation, splicing).
 * Deterministic for a given {@link Random} seed, so a failure is replayed by its seed and index.
 */
final class Mutator {
    private static final List<String> TOKENS = List.of("{", "}", "[", "]", "\"", "\\", ":", ",", "null", "true", "-0",
            "1e999999", "-9223372036854775809", "\\u0000", "\\ud800", "\u0000", "\r\n", "\n---\n", "---\n", "**From:**",
            "**Priority:**", "**Timeout:** 99999999999 seconds", "task_id: ../../x", "priority: P9", "timeout: -1",
            "created_at: 9999-99-99", "\uFEFF", "\u202E", "[".repeat(200), "{\"a\":".repeat(100), "\"text\":", "\"bot_id\":",
            "%2e%2e%2f", "../", "\u00ff\u00fe");

    private final Random random;

    Mutator(Random random) {
        this.random = random;
    }

    byte[] randomBytes(int max) {
        byte[] b = new byte[random.nextInt(max + 1)];
        random.nextBytes(b);
        return b;
    }

    /** A random JSON text (valid most of the time), up to {@code depth} levels deep. */
    String randomJson(int depth) {
        int kind = depth <= 0 ? random.nextInt(4) : random.nextInt(6);
        return switch (kind) {
            case 0 -> random.nextBoolean() ? "null" : Boolean.toString(random.nextBoolean());
            case 1 -> random.nextBoolean() ? Long.toString(random.nextLong()) : Double.toString(random.nextGaussian() * 1e300);
            case 2 -> "\"" + randomString(random.nextInt(40)) + "\"";
            case 3 -> "\"" + "x".repeat(random.nextInt(5000)) + "\"";
            case 4 -> {
                StringBuilder sb = new StringBuilder("[");
                for (int i = random.nextInt(4); i > 0; i--) {
                    sb.append(randomJson(depth - 1)).append(i > 1 ? "," : "");
                }
                yield sb.append(']').toString();
            }
            default -> {
                StringBuilder sb = new StringBuilder("{");
                List<String> keys = List.of("text", "bot_id", "profile", "client_msg_id", "type", randomString(6));
                for (int i = random.nextInt(4); i > 0; i--) {
                    sb.append('"').append(keys.get(random.nextInt(keys.size()))).append("\":").append(randomJson(depth - 1))
                            .append(i > 1 ? "," : "");
                }
                yield sb.append('}').toString();
            }
        };
    }

    private String randomString(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int pick = random.nextInt(10);
            if (pick < 6) {
                sb.append((char) ('a' + random.nextInt(26)));
            } else if (pick < 8) {
                sb.append("\\u").append(String.format("%04x", random.nextInt(0x10000)));
            } else {
                int cp = 1 + random.nextInt(0x2FFFF);
                // Raw lone surrogates cannot be sent as text by a client; escaped ones (above) can.
                sb.appendCodePoint(Character.isSurrogate((char) cp) && cp < 0x10000 ? 0xFFFD : cp);
            }
        }
        return sb.toString().replace("\"", "").replace("\\\\", "");
    }

    /** One to four mutations of {@code seed}, splicing in {@code other} sometimes. */
    byte[] mutate(byte[] seed, byte[] other) {
        byte[] data = seed.clone();
        for (int n = 1 + random.nextInt(4); n > 0; n--) {
            data = mutateOnce(data, other);
        }
        return data;
    }

    private byte[] mutateOnce(byte[] data, byte[] other) {
        int len = data.length;
        int at = len == 0 ? 0 : random.nextInt(len + 1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (random.nextInt(8)) {
            case 0 -> { // flip a bit
                if (len == 0) {
                    return data;
                }
                byte[] copy = data.clone();
                int i = random.nextInt(len);
                copy[i] ^= (byte) (1 << random.nextInt(8));
                return copy;
            }
            case 1 -> { // insert a random byte
                out.write(data, 0, at);
                out.write(random.nextInt(256));
                out.write(data, at, len - at);
            }
            case 2 -> { // insert an interesting token
                out.write(data, 0, at);
                out.writeBytes(TOKENS.get(random.nextInt(TOKENS.size())).getBytes(StandardCharsets.UTF_8));
                out.write(data, at, len - at);
            }
            case 3 -> { // delete a range
                int end = Math.min(len, at + random.nextInt(16) + 1);
                out.write(data, 0, at);
                out.write(data, end, len - end);
            }
            case 4 -> { // duplicate a range
                int end = Math.min(len, at + random.nextInt(32) + 1);
                out.write(data, 0, end);
                out.write(data, at, end - at);
                out.write(data, end, len - end);
            }
            case 5 -> { // truncate
                out.write(data, 0, at);
            }
            case 6 -> { // splice with the other seed
                int from = other.length == 0 ? 0 : random.nextInt(other.length);
                out.write(data, 0, at);
                out.write(other, from, other.length - from);
            }
            default -> { // overwrite with a random ASCII or high byte
                if (len == 0) {
                    return data;
                }
                byte[] copy = data.clone();
                copy[random.nextInt(len)] = (byte) (random.nextBoolean() ? random.nextInt(128) : 128 + random.nextInt(128));
                return copy;
            }
        }
        return out.toByteArray();
    }
}
