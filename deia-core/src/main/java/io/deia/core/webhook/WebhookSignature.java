package io.deia.core.webhook;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.util.HexFormat;

/**
 * The {@code X-Deia-Signature} header of a delivery: {@code sha256=<hex HMAC-SHA256 of the exact body
 * bytes>} under the webhook's secret. A receiver computes the same over the bytes it received and
 * compares in constant time.
 */
public final class WebhookSignature {
    /** The header carrying the signature. */
    public static final String HEADER = "X-Deia-Signature";

    private WebhookSignature() {
    }

    /** {@code sha256=<64 hex digits>} of {@code body} under {@code secret}. */
    public static String of(byte[] secret, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return "sha256=" + HexFormat.of().formatHex(mac.doFinal(body));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }
}
