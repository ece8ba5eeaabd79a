package io.deia.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HiveTokenTest {
    @TempDir
    Path dir;

    @Test
    void createdOnceAsOwnerOnlyAndKept() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        HiveToken token = HiveToken.loadOrCreate(hive);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(hive.tokenFile())));
        assertTrue(token.reveal().length() >= 40, "256 bits, base64url");
        assertEquals(token.reveal(), HiveToken.loadOrCreate(hive).reveal(), "kept across loads");
        assertFalse(token.toString().contains(token.reveal()), "toString hides it");
    }

    @Test
    void matchesOnlyItselfAndOnlyAsBearer() {
        HiveToken token = HiveToken.loadOrCreate(new HiveLayout(dir));
        assertTrue(token.matches(token.reveal()));
        assertFalse(token.matches(token.reveal() + "x"));
        assertFalse(token.matches(null));
        assertTrue(token.matchesBearer(token.bearer()));
        assertTrue(token.matchesBearer("bearer " + token.reveal()), "the scheme is case-insensitive");
        assertFalse(token.matchesBearer(token.reveal()));
        assertFalse(token.matchesBearer("Basic " + token.reveal()));
        assertFalse(token.matchesBearer(null));
        assertFalse(token.matchesBearer("Bearer " + token.reveal().substring(1)));
    }

    @Test
    void aTokenFileOthersCanReadIsTightenedAndAnEmptyOneRefused() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Files.writeString(hive.tokenFile(), "a-token-long-enough-to-count\n");
        Files.setPosixFilePermissions(hive.tokenFile(), PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals("a-token-long-enough-to-count", HiveToken.loadOrCreate(hive).reveal());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(hive.tokenFile())));

        Files.writeString(hive.tokenFile(), "short\n");
        DeiaException e = assertThrows(DeiaException.class, () -> HiveToken.loadOrCreate(hive));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
    }
}
