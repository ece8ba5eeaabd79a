package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.config.Backend;
import io.nats.client.Connection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TLS from PEM files: a mutual-TLS connection to a real nats-server, and clear errors for bad files. */
class NatsTlsTest {
    @TempDir
    Path dir;

    /** A self-signed certificate for 127.0.0.1 (keytool, from the JDK) written as PEM cert and PKCS#8 key. */
    private Path[] selfSigned(String name) throws Exception {
        Path store = dir.resolve(name + ".p12");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=127.0.0.1",
                "-ext", "SAN=ip:127.0.0.1", "-validity", "2", "-keystore", store.toString(), "-storetype", "PKCS12",
                "-storepass", "changeit").redirectErrorStream(true).start();
        assertEquals(0, p.waitFor(), new String(p.getInputStream().readAllBytes()));
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, "changeit".toCharArray());
        }
        Certificate cert = ks.getCertificate(name);
        Key key = ks.getKey(name, "changeit".toCharArray());
        Base64.Encoder b64 = Base64.getMimeEncoder(64, "\n".getBytes());
        Path certPem = dir.resolve(name + ".pem");
        Path keyPem = dir.resolve(name + ".key");
        Files.writeString(certPem, "-----BEGIN CERTIFICATE-----\n" + b64.encodeToString(cert.getEncoded()) + "\n-----END CERTIFICATE-----\n");
        Files.writeString(keyPem, "-----BEGIN PRIVATE KEY-----\n" + b64.encodeToString(key.getEncoded()) + "\n-----END PRIVATE KEY-----\n");
        return new Path[] {certPem, keyPem};
    }

    @Test
    void mutualTlsFromPemFilesConnects() throws Exception {
        Path[] server = selfSigned("server");
        Path[] client = selfSigned("client");
        try (PlainNatsServer nats = PlainNatsServer.start(dir.resolve("n"), "-js", "-sd", dir.resolve("store").toString(),
                "--tls", "--tlscert", server[0].toString(), "--tlskey", server[1].toString(),
                "--tlsverify", "--tlscacert", client[0].toString())) {
            String url = "tls://127.0.0.1:" + nats.port;
            Backend withTls = new Backend("nats", List.of(url), "t1", null,
                    new Backend.Tls(server[0].toString(), client[0].toString(), client[1].toString()));
            try (NatsHive hive = NatsHive.connect(withTls, "deia-test")) {
                assertEquals(Connection.Status.CONNECTED, hive.connection().getStatus());
            }
            // Without the client certificate the server refuses the handshake.
            Backend noClientCert = new Backend("nats", List.of(url), "t1", null, new Backend.Tls(server[0].toString(), null, null));
            DeiaException e = assertThrows(DeiaException.class, () -> NatsHive.connect(noClientCert, "deia-test"));
            assertEquals(ErrorCode.UNAVAILABLE, e.code());
        }
    }

    @Test
    void badFilesAreNamedWithoutTheirContents() throws Exception {
        Path[] pair = selfSigned("c");
        Path garbage = dir.resolve("garbage.pem");
        Files.writeString(garbage, "not a certificate SECRET-CONTENT");
        DeiaException missing = assertThrows(DeiaException.class,
                () -> NatsTls.context(new Backend.Tls(dir.resolve("none.pem").toString(), null, null)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, missing.code());
        assertTrue(missing.getMessage().contains("ca_file") && missing.getMessage().contains("none.pem"), missing.getMessage());
        DeiaException notPem = assertThrows(DeiaException.class,
                () -> NatsTls.context(new Backend.Tls(garbage.toString(), null, null)));
        assertFalse(notPem.getMessage().contains("SECRET-CONTENT"), notPem.getMessage());
        DeiaException notAKey = assertThrows(DeiaException.class,
                () -> NatsTls.context(new Backend.Tls(null, pair[0].toString(), garbage.toString())));
        assertTrue(notAKey.getMessage().contains("key_file") && !notAKey.getMessage().contains("SECRET-CONTENT"), notAKey.getMessage());
        assertNotNull(NatsTls.context(new Backend.Tls(null, null, null)), "the JVM's trust store alone");
    }
}
