package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.config.Backend;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds the {@link SSLContext} of a NATS connection from the PEM files named in
 * {@code backend.tls}: the CA certificates to trust ({@code ca_file}, else the JVM's default trust
 * store) and, for mutual TLS, this client's certificate chain ({@code cert_file}) with its
 * unencrypted PKCS#8 private key ({@code key_file}, {@code -----BEGIN PRIVATE KEY-----}; RSA, EC or
 * Ed25519). Errors name the file and what is wrong with it, never its contents.
 */
public final class NatsTls {
    private static final Pattern PRIVATE_KEY = Pattern.compile(
            "-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");
    private static final char[] NO_PASSWORD = new char[0];

    private NatsTls() {
    }

    /**
     * The TLS context for {@code tls}.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} naming the file that is missing, unreadable or not
     *         in the expected PEM form
     */
    public static SSLContext context(Backend.Tls tls) {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (tls.caFile() != null) {
                KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
                trust.load(null, null);
                int i = 0;
                for (Certificate c : certificates(tls.caFile(), "backend.tls.ca_file")) {
                    trust.setCertificateEntry("ca-" + i++, c);
                }
                tmf.init(trust);
            } else {
                tmf.init((KeyStore) null);
            }
            KeyManagerFactory kmf = null;
            if (tls.certFile() != null) {
                List<Certificate> chain = certificates(tls.certFile(), "backend.tls.cert_file");
                PrivateKey key = privateKey(tls.keyFile());
                KeyStore keys = KeyStore.getInstance(KeyStore.getDefaultType());
                keys.load(null, null);
                keys.setKeyEntry("client", key, NO_PASSWORD, chain.toArray(new Certificate[0]));
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, NO_PASSWORD);
            }
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw DeiaException.invalid("backend.tls: cannot build the TLS context: %s", e.getClass().getSimpleName());
        }
    }

    private static List<Certificate> certificates(String file, String field) {
        byte[] bytes = read(file, field);
        try {
            Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(bytes));
            if (certs.isEmpty()) {
                throw DeiaException.invalid("%s: %s holds no PEM certificate", field, file);
            }
            return new ArrayList<>(certs);
        } catch (java.security.cert.CertificateException e) {
            throw DeiaException.invalid("%s: %s is not a PEM X.509 certificate file", field, file);
        }
    }

    private static PrivateKey privateKey(String file) {
        String pem = new String(read(file, "backend.tls.key_file"), StandardCharsets.US_ASCII);
        Matcher m = PRIVATE_KEY.matcher(pem);
        if (!m.find()) {
            throw DeiaException.invalid("backend.tls.key_file: %s holds no unencrypted PKCS#8 key "
                    + "(-----BEGIN PRIVATE KEY-----); convert it with: openssl pkcs8 -topk8 -nocrypt", file);
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(m.group(1).replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw DeiaException.invalid("backend.tls.key_file: %s is not valid base64 PEM", file);
        }
        for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                // not this algorithm: try the next one
            }
        }
        throw DeiaException.invalid("backend.tls.key_file: %s is not an RSA, EC or Ed25519 PKCS#8 key", file);
    }

    private static byte[] read(String file, String field) {
        try {
            return Files.readAllBytes(Path.of(file));
        } catch (IOException e) {
            throw DeiaException.invalid("%s: cannot read %s (%s)", field, file, e.getClass().getSimpleName());
        }
    }
}
