package io.deia.nats;

import io.nats.client.NKey;
import io.nats.client.support.JwtUtils;

import java.security.SecureRandom;

/** A NATS credentials file (user JWT and NKey seed) for a user of an account no test server trusts. */
final class NkeyCreds {
    private NkeyCreds() {
    }

    static String newUserCreds() throws Exception {
        SecureRandom random = new SecureRandom();
        NKey account = NKey.createAccount(random);
        NKey user = NKey.createUser(random);
        String jwt = JwtUtils.issueUserJWT(account, new String(account.getPublicKey()), new String(user.getPublicKey()));
        return String.format(JwtUtils.NATS_USER_JWT_FORMAT, jwt, new String(user.getSeed()));
    }
}
