package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProjectTest {
    @TempDir
    Path tmp;

    private DeiaConfig load(String json) throws Exception {
        Path f = tmp.resolve("deia.json");
        Files.writeString(f, json);
        return DeiaConfig.load(f);
    }

    private DeiaException refused(String json) {
        return assertThrows(DeiaException.class, () -> load(json));
    }

    @Test
    void projectsAreReadWithTheirDefaults() throws Exception {
        DeiaConfig c = load("""
                {"profiles": {}, "projects": {
                  "shop": {"path": "/srv/shop/../shop", "base": "develop", "copy_files": [".env", "config/local.*"],
                           "worktree_root": "/var/wt"},
                  "blog": {"path": "/srv/blog"}}}""");
        Project shop = c.requireProject("shop");
        assertEquals("shop", shop.name());
        assertEquals(Path.of("/srv/shop"), shop.path());
        assertEquals("develop", shop.base());
        assertEquals(List.of(".env", "config/local.*"), shop.copyFiles());
        assertEquals(Path.of("/var/wt"), shop.worktreeRoot());
        Project blog = c.requireProject("blog");
        assertEquals("main", blog.base());
        assertEquals(List.of(), blog.copyFiles());
        assertNull(blog.worktreeRoot());
        assertEquals(List.of("shop", "blog"), List.copyOf(c.projects().keySet()));
        HiveLayout hive = new HiveLayout(tmp.resolve("hive-root"));
        assertEquals(Path.of("/var/wt/shop/BOT-1"), shop.worktree(hive, "BOT-1"));
        assertEquals(hive.root().resolve("worktrees").resolve("blog").resolve("BOT-1"), blog.worktree(hive, "BOT-1"));
        assertEquals(c.projects(), c.toBuilder().build().projects());
    }

    @Test
    void aConfigWithoutProjectsHasNone() throws Exception {
        DeiaConfig c = load("{\"profiles\": {}}");
        assertTrue(c.projects().isEmpty());
        DeiaException e = assertThrows(DeiaException.class, () -> c.requireProject("shop"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
    }

    @Test
    void anUnknownProjectIs422NamingTheConfiguredOnes() throws Exception {
        DeiaConfig c = load("{\"projects\": {\"shop\": {\"path\": \"/srv/shop\"}}}");
        DeiaException e = assertThrows(DeiaException.class, () -> c.requireProject("blog"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("blog") && e.getMessage().contains("shop"), e.getMessage());
        assertEquals(ErrorCode.UNPROCESSABLE, assertThrows(DeiaException.class, () -> c.requireProject(null)).code());
    }

    @Test
    void badProjectSettingsAreRefusedNamingTheField() {
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"relative/shop\"}}}", "\"path\" must be absolute");
        assertRefused("{\"projects\": {\"shop\": {\"base\": \"main\"}}}", "\"path\" is required");
        assertRefused("{\"projects\": {\"shop\": null}}", "no settings");
        assertRefused("{\"projects\": {\"../up\": {\"path\": \"/srv/x\"}}}", "project name '../up' is invalid");
        assertRefused("{\"projects\": {\"a b\": {\"path\": \"/srv/x\"}}}", "is invalid");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"base\": \"-x\"}}}", "\"base\" is not a branch name");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"base\": \"a..b\"}}}", "\"base\" is not a branch name");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"base\": \"a b\"}}}", "\"base\" is not a branch name");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"base\": \"\"}}}", "\"base\" is not a branch name");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"copy_files\": [\"../secrets\"]}}}", "\"copy_files\"");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"copy_files\": [\"a/../../b\"]}}}", "\"copy_files\"");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"copy_files\": [\"/etc/passwd\"]}}}", "\"copy_files\"");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"copy_files\": [\" \"]}}}", "\"copy_files\"");
        assertRefused("{\"projects\": {\"shop\": {\"path\": \"/srv/x\", \"worktree_root\": \"wt\"}}}", "\"worktree_root\" must be absolute");
    }

    private void assertRefused(String json, String expected) {
        DeiaException e = refused(json);
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(expected), () -> "expected '" + expected + "' in: " + e.getMessage());
        assertTrue(e.getMessage().contains("deia.json"), e.getMessage());
    }

    @Test
    void verifyAcceptsARepositoryWithItsBase() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        new Project("shop", repo, "main", null, null).verify();
        TestRepos.git(repo, "branch", "develop");
        new Project("shop", repo, "develop", null, null).verify();
    }

    @Test
    void verifyOfAFolderThatIsNoRepositoryNamesPath() throws Exception {
        Path plain = Files.createDirectories(tmp.resolve("plain"));
        DeiaException e = assertThrows(DeiaException.class, () -> new Project("shop", plain, "main", null, null).verify());
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("\"path\"") && e.getMessage().contains("not a git repository"), e.getMessage());
    }

    @Test
    void verifyOfAMissingFolderNamesPath() {
        Path absent = tmp.resolve("absent");
        DeiaException e = assertThrows(DeiaException.class, () -> new Project("shop", absent, "main", null, null).verify());
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("\"path\"") && e.getMessage().contains(absent.toString()), e.getMessage());
    }

    @Test
    void verifyOfAFolderInsideARepositoryNamesPath() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Path sub = Files.createDirectories(repo.resolve("src"));
        for (Path inside : List.of(sub, repo.resolve(".git"), repo.resolve(".git/refs"))) {
            DeiaException e = assertThrows(DeiaException.class, () -> new Project("shop", inside, "main", null, null).verify(),
                    inside.toString());
            assertEquals(ErrorCode.UNPROCESSABLE, e.code());
            assertTrue(e.getMessage().contains("\"path\"") && e.getMessage().contains("not its top folder"), e.getMessage());
        }
    }

    @Test
    void verifyOfAMissingBaseNamesBase() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        DeiaException e = assertThrows(DeiaException.class, () -> new Project("shop", repo, "release", null, null).verify());
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("\"base\"") && e.getMessage().contains("release"), e.getMessage());
        // a tag of that name is not a branch
        TestRepos.git(repo, "tag", "v1");
        assertThrows(DeiaException.class, () -> new Project("shop", repo, "v1", null, null).verify());
    }

    @Test
    void verifyAcceptsABareRepository() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Path bare = tmp.resolve("bare.git");
        TestRepos.git(tmp, "clone", "--quiet", "--bare", repo.toString(), bare.toString());
        new Project("shop", bare, "main", null, null).verify();
        DeiaException e = assertThrows(DeiaException.class, () -> new Project("shop", bare, "nope", null, null).verify());
        assertTrue(e.getMessage().contains("\"base\""), e.getMessage());
        DeiaException inside = assertThrows(DeiaException.class,
                () -> new Project("shop", bare.resolve("refs"), "main", null, null).verify());
        assertTrue(inside.getMessage().contains("not its top folder"), inside.getMessage());
    }
}
