package io.deia.server.dashboard;

import static io.deia.server.dashboard.ReviewPage.awaitUi;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.deia.core.project.Git;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.Select;

/**
 * The dashboard side of projects (issue 21) in a real headless Chromium against a real {@code serve}
 * whose bots work on real git repositories made here: a bot launched from the form on a project,
 * a task's branch and changes, its diff, Merge (the file lands on the base branch and in the user's
 * clean checkout), a second task that conflicts (the files are listed, nothing changes), and
 * Discard then Restore. One controller and one browser for the class; each test launches its own
 * bot on its own repository, so the tests need no order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardProjectsBrowserTest {
    private static final List<String> PROJECTS = List.of("merge", "conflict", "discard", "dirty", "gone", "big");
    private static final List<String> BOTS = List.of("MERGE-1", "CONFLICT-1", "DISCARD-1", "DIRTY-1", "GONE-1", "BIG-1");

    @TempDir
    static Path tmp;

    private ServeProcess serve;
    private Browser browser;
    private ReviewPage page;
    private Predicate<String> allowedConsole = m -> false;

    @BeforeAll
    void startServerAndBrowser() throws Exception {
        Path hive = tmp.resolve("hive");
        Files.createDirectories(hive);
        // The agent: the prompt's first line is "write <file>", the rest is what goes into the file
        // (in its working directory, the bot's worktree); "fill <file>" writes 400,000 numbered lines.
        Path writer = tmp.resolve("writer.sh");
        Files.writeString(writer, """
                p=$(cat)
                big=$(printf '%s\\n' "$p" | sed -n '1s/^fill //p')
                if [ -n "$big" ]; then seq 1 400000 > "$big"; echo "filled $big"; exit 0; fi
                f=$(printf '%s\\n' "$p" | sed -n '1s/^write //p')
                [ -n "$f" ] || { echo 'first line must be: write <file>' >&2; exit 1; }
                printf '%s\\n' "$p" | sed 1d > "$f"
                echo "wrote $f"
                """, StandardCharsets.UTF_8);
        StringBuilder projects = new StringBuilder();
        for (String name : PROJECTS) {
            Path repo = newRepository(name);
            projects.append(projects.length() == 0 ? "" : ",\n")
                    .append("\"").append(name).append("\": {\"path\": \"").append(repo).append("\", \"base\": \"main\"}");
        }
        Files.writeString(tmp.resolve("deia.json"), """
                {
                  "ports": {"from": 18800, "to": 18899},
                  "profiles": {
                    "writer": {"agent": "command", "executable": "/bin/sh", "args": ["%s"]}
                  },
                  "projects": {
                %s
                  }
                }
                """.formatted(writer, projects), StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, tmp.resolve("deia.json"), tmp.resolve("serve.log"));
        serve.start();
        browser = new Browser(tmp.resolve("chromium-profile"));
        page = new ReviewPage(browser);
        browser.driver.get(serve.dashboardUrl());
        awaitUi().until(() -> "connected".equals(browser.driver.findElement(By.id("conn")).getAttribute("data-state")));
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (browser != null) {
                browser.close();
            }
        } finally {
            if (serve != null) {
                serve.stopBots(BOTS);
                serve.close();
            }
        }
    }

    @BeforeEach
    void noDialogOpen() {
        browser.js("document.querySelectorAll('dialog[open]').forEach(d => d.close());");
    }

    @AfterEach
    void noConsoleErrors() {
        List<String> errors = browser.consoleErrors(allowedConsole);
        allowedConsole = m -> false;
        browser.clearConsole();
        assertTrue(errors.isEmpty(), "browser console errors: " + errors);
    }

    @Test
    void aTaskOfABotLaunchedOnAProjectIsReviewedAndMergedFromTheDashboard() throws Exception {
        Path repo = repo("merge");
        String botId = "MERGE-1";
        page.openLaunchDialog();
        WebElement id = browser.driver.findElement(By.id("launch-id"));
        id.clear();
        id.sendKeys(botId);
        new Select(browser.driver.findElement(By.id("launch-profile"))).selectByValue("writer");
        Select project = new Select(browser.driver.findElement(By.id("launch-project")));
        awaitUi().until(() -> project.getOptions().size() == PROJECTS.size() + 1);
        assertEquals("", project.getFirstSelectedOption().getAttribute("value"), "no project unless one is chosen");
        assertEquals("none", project.getFirstSelectedOption().getText());
        assertEquals(List.of("", "big", "conflict", "dirty", "discard", "gone", "merge"),
                project.getOptions().stream().map(o -> o.getAttribute("value")).sorted().collect(Collectors.toList()));
        project.selectByValue("merge");
        page.recordPosts();
        browser.driver.findElement(By.id("launch-submit")).click();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> !page.dialogOpen("launch-dialog"));
        awaitUi().until(() -> botId.equals(browser.driver.findElement(By.id("bot-title")).getText()));
        assertEquals("{\"bot_id\":\"MERGE-1\",\"profile\":\"writer\",\"project\":\"merge\"}", page.recordedBodies().get(0));
        // The bot's project, in the list and in its facts, as /api/bots reports it.
        assertContains(serve.get("/api/bots", true).body(), "\"project\":\"merge\"");
        awaitUi().until(() -> page.botItem(botId).getText().contains("project merge"));
        assertEquals("merge", browser.driver.findElement(By.id("fact-project")).getText());

        String content = "hello from the bot\n<img src=x onerror=\"window.__pwned=1\">\n";
        WebElement text = browser.driver.findElement(By.id("task-text"));
        browser.js("arguments[0].value = arguments[1];", text, "---\ntask_id: hello-1\n---\nwrite hello.txt\n" + content);
        browser.driver.findElement(By.id("task-submit")).click();
        WebElement review = page.awaitReview("hello-1");
        assertEquals("deia/MERGE-1/hello-1", review.findElement(By.className("task-branch")).getText());
        assertEquals("1 file changed +2 \u22120", review.findElement(By.className("task-changes")).getText());
        assertFalse(Git.at(repo).tryRun("cat-file", "-e", "main:hello.txt").ok(), "not on main before the merge");

        page.click("hello-1", "diff");
        awaitUi().until(() -> page.review("hello-1").findElements(By.className("diff-path")).size() == 1);
        assertEquals("hello.txt", page.review("hello-1").findElement(By.className("diff-path")).getText());
        // Shown in capitals by the stylesheet; the text itself is git's status word.
        assertEquals("added", page.review("hello-1").findElement(By.className("diff-status")).getAttribute("textContent"));
        assertEquals("+2 \u22120", page.review("hello-1").findElement(By.className("diff-counts")).getText());
        List<String> added = page.review("hello-1").findElements(By.cssSelector(".diff-patch .diff-add")).stream()
                .map(WebElement::getText).collect(Collectors.toList());
        assertEquals(List.of("+hello from the bot\n+<img src=x onerror=\"window.__pwned=1\">"), added);
        assertFalse(page.review("hello-1").findElements(By.cssSelector(".diff-patch .diff-hunk")).isEmpty());
        assertEquals("monospace", browser.js("return getComputedStyle(arguments[0]).fontFamily.includes('monospace') ? 'monospace' : 'other'",
                page.review("hello-1").findElement(By.className("diff-patch"))));
        // The file's HTML is text in the patch, nothing more.
        assertTrue(browser.driver.findElements(By.cssSelector("#task-responses img")).isEmpty());
        assertEquals(null, browser.js("return window.__pwned === undefined ? null : 'pwned'"));
        page.assertReadable(page.review("hello-1"));
        browser.js("arguments[0].scrollIntoView({block: 'start'});", page.review("hello-1"));
        browser.screenshot(repoRoot().resolve("docs/img/dashboard-project-diff.png"));

        page.recordPosts();
        page.click("hello-1", "merge");
        awaitUi().until(() -> page.review("hello-1").findElement(By.className("review-note")).getText().contains("merged into main"));
        assertEquals(List.of("{}"), page.recordedBodies());
        page.assertPostsWereJson();
        assertTrue(page.review("hello-1").findElements(By.cssSelector("[data-action='merge']")).isEmpty(), "nothing left to merge");
        assertEquals(content, Git.at(repo).run("show", "main:hello.txt"));
        // main is checked out, clean, in the user's own tree: it follows the merge.
        assertEquals(content, Files.readString(repo.resolve("hello.txt"), StandardCharsets.UTF_8));
        assertEquals("", Git.at(repo).run("status", "--porcelain"));

        // A reloaded page no longer remembers the merge, but the diff tells: nothing left, on main.
        browser.driver.navigate().refresh();
        page.selectBot(botId);
        page.awaitReview("hello-1");
        page.click("hello-1", "diff");
        awaitUi().until(() -> page.review("hello-1").findElement(By.className("review-note")).getText()
                .equals("Already merged into main."));
        assertEquals("No changes against main.", page.review("hello-1").findElement(By.className("diff-empty")).getText());
        assertTrue(page.review("hello-1").findElements(By.cssSelector("[data-action='merge']")).isEmpty());
    }

    @Test
    void aSecondTaskThatConflictsShowsTheConflictingFilesAndChangesNothing() throws Exception {
        Path repo = repo("conflict");
        String botId = "CONFLICT-1";
        launchOverApi(botId, "conflict");
        // Both start from main's tip: the second writes the same new file differently.
        submitOverApi(botId, "clash-a", "write shared.txt\nfrom task a\n");
        submitOverApi(botId, "clash-b", "write shared.txt\nfrom task b\n");
        page.selectBot(botId);
        page.awaitReview("clash-a");
        page.awaitReview("clash-b");

        page.click("clash-a", "merge");
        awaitUi().until(() -> page.review("clash-a").findElement(By.className("review-note")).getText().contains("merged into main"));
        String tip = Git.at(repo).run("rev-parse", "main").strip();

        allowedConsole = m -> m.contains("/tasks/clash-b/merge") && m.contains("409");
        page.click("clash-b", "merge");
        awaitUi().until(() -> !page.review("clash-b").findElements(By.className("task-review-error")).isEmpty());
        WebElement error = page.review("clash-b").findElement(By.className("task-review-error"));
        assertContains(error.getText(), "Merge refused");
        assertContains(error.getText(), "[conflict]");
        assertEquals(List.of("shared.txt"), error.findElements(By.className("conflict-file")).stream()
                .map(WebElement::getText).collect(Collectors.toList()));
        // Still offered, once the conflict is resolved on the branch.
        assertTrue(page.review("clash-b").findElement(By.cssSelector("[data-action='merge']")).isEnabled());
        assertFalse(page.review("clash-b").findElement(By.className("review-note")).isDisplayed(), "not shown as merged");
        assertEquals(tip, Git.at(repo).run("rev-parse", "main").strip(), "a refused merge moves nothing");
        assertEquals("from task a\n", Files.readString(repo.resolve("shared.txt"), StandardCharsets.UTF_8));
        assertEquals("", Git.at(repo).run("status", "--porcelain"));
    }

    @Test
    void aDiscardedTaskIsKeptAndRestoredFromTheDashboard() throws Exception {
        Path repo = repo("discard");
        String botId = "DISCARD-1";
        launchOverApi(botId, "discard");
        submitOverApi(botId, "drop-1", "write gone.txt\nnot wanted\n");
        page.selectBot(botId);
        page.awaitReview("drop-1");
        String branch = "refs/heads/deia/" + botId + "/drop-1";
        String kept = "refs/deia/discarded/" + botId + "/drop-1";
        assertTrue(Git.at(repo).tryRun("show-ref", "--verify", "--quiet", branch).ok());

        page.recordPosts();
        page.click("drop-1", "discard");
        awaitUi().until(() -> page.review("drop-1").findElement(By.className("review-note")).getText().contains(kept));
        page.assertPostsWereJson();
        assertFalse(Git.at(repo).tryRun("show-ref", "--verify", "--quiet", branch).ok(), "the branch is gone");
        assertTrue(Git.at(repo).tryRun("show-ref", "--verify", "--quiet", kept).ok(), "its tip is kept");
        assertTrue(page.review("drop-1").findElements(By.cssSelector("[data-action='merge']")).isEmpty(), "a discarded task is not merged");
        assertFalse(Git.at(repo).tryRun("cat-file", "-e", "main:gone.txt").ok());

        page.click("drop-1", "restore");
        awaitUi().until(() -> page.review("drop-1").findElement(By.className("review-note")).getText().startsWith("Restored"));
        assertTrue(Git.at(repo).tryRun("show-ref", "--verify", "--quiet", branch).ok(), "the branch is back");
        assertTrue(page.review("drop-1").findElement(By.cssSelector("[data-action='merge']")).isEnabled());
    }

    @Test
    void aMergeIntoTheUsersDirtyCheckoutIsRefusedWithItsFilesAndTheirEditsStay() throws Exception {
        Path repo = repo("dirty");
        String botId = "DIRTY-1";
        launchOverApi(botId, "dirty");
        submitOverApi(botId, "new-1", "write new.txt\nfrom the bot\n");
        page.selectBot(botId);
        page.awaitReview("new-1");
        // The user is editing README.md on main, uncommitted.
        String edit = "# dirty\nthe user's unsaved work\n";
        Files.writeString(repo.resolve("README.md"), edit, StandardCharsets.UTF_8);
        String tip = Git.at(repo).run("rev-parse", "main").strip();

        allowedConsole = m -> m.contains("/tasks/new-1/merge") && m.contains("409");
        page.click("new-1", "merge");
        awaitUi().until(() -> !page.review("new-1").findElements(By.className("task-review-error")).isEmpty());
        WebElement error = page.review("new-1").findElement(By.className("task-review-error"));
        assertContains(error.getText(), "Merge refused");
        assertEquals(List.of("README.md"), error.findElements(By.className("conflict-file")).stream()
                .map(WebElement::getText).collect(Collectors.toList()));
        page.assertReadable(page.review("new-1"));
        assertEquals(tip, Git.at(repo).run("rev-parse", "main").strip());
        assertEquals(edit, Files.readString(repo.resolve("README.md"), StandardCharsets.UTF_8));
        assertFalse(Files.exists(repo.resolve("new.txt")));

        // Once the user has committed, the same button merges.
        Git.at(repo).run("-c", "user.name=user", "-c", "user.email=user@example.invalid", "commit", "-q", "-am", "user edit");
        page.click("new-1", "merge");
        awaitUi().until(() -> page.review("new-1").findElement(By.className("review-note")).getText().contains("merged into main"));
        assertTrue(page.review("new-1").findElements(By.className("task-review-error")).isEmpty(), "the old refusal is gone");
        page.assertReadable(page.review("new-1"));
        assertEquals("from the bot\n", Git.at(repo).run("show", "main:new.txt"));
        assertEquals(edit, Git.at(repo).run("show", "main:README.md"));
    }

    @Test
    void aTaskDiscardedElsewhereShowsTheServersAnswerAndRestoresAndOddFileNamesShowAsText() throws Exception {
        String botId = "GONE-1";
        launchOverApi(botId, "gone");
        // A space, UTF-8 and a right-to-left override in one file name.
        submitOverApi(botId, "odd-1", "write my caf\u00e9 abc\u202Egnp.exe\n" + "a long line ".repeat(40) + "\n");
        page.selectBot(botId);
        page.awaitReview("odd-1");
        page.click("odd-1", "diff");
        awaitUi().until(() -> page.review("odd-1").findElements(By.className("diff-path")).size() == 1);
        assertEquals("my caf\u00e9 abc<U+202E>gnp.exe", page.review("odd-1").findElement(By.className("diff-path")).getText());
        assertLacks(page.review("odd-1").getText(), "\u202E");

        // Discarded from another client: this page still offers Merge, shows the server's 404, drops
        // the stale diff and offers Restore instead, which brings the branch and its diff back.
        HttpResponse<String> discarded = serve.post("/api/bot/" + botId + "/tasks/odd-1/discard", "{}");
        assertEquals(200, discarded.statusCode(), discarded.body());
        allowedConsole = m -> m.contains("/tasks/odd-1/merge") && m.contains("404");
        page.click("odd-1", "merge");
        awaitUi().until(() -> !page.review("odd-1").findElements(By.className("task-review-error")).isEmpty());
        String error = page.review("odd-1").findElement(By.className("task-review-error")).getText();
        assertContains(error, "Merge refused");
        assertContains(error, "[not_found]");
        assertTrue(page.review("odd-1").findElements(By.className("task-diff")).isEmpty(), "no stale diff");
        assertTrue(page.review("odd-1").findElements(By.cssSelector("[data-action='merge']")).isEmpty());
        assertFalse(page.review("odd-1").findElement(By.className("review-note")).isDisplayed(), "not shown as merged");
        assertFalse(Git.at(repo("gone")).tryRun("cat-file", "-e", "main:my caf\u00e9 abc\u202Egnp.exe").ok());

        page.click("odd-1", "restore");
        awaitUi().until(() -> page.review("odd-1").findElement(By.className("review-note")).getText().startsWith("Restored"));
        assertTrue(page.review("odd-1").findElements(By.className("task-review-error")).isEmpty());
        page.click("odd-1", "diff");
        awaitUi().until(() -> page.review("odd-1").findElements(By.className("diff-path")).size() == 1);
        assertEquals("my caf\u00e9 abc<U+202E>gnp.exe", page.review("odd-1").findElement(By.className("diff-path")).getText());

        // On a phone the long line scrolls inside the patch; the page itself never gets wider than the screen.
        try {
            browser.viewport(390, 844, true);
            browser.js("document.getElementById('tab-tasks').click();");
            awaitUi().until(() -> page.review("odd-1").findElement(By.className("diff-scroll")).isDisplayed());
            assertEquals(Boolean.TRUE, browser.js("return document.documentElement.scrollWidth <= window.innerWidth"),
                    "the page is wider than the screen");
            // The patch box stays inside the card and really scrolls sideways (it is not just overflowing).
            assertEquals(Boolean.TRUE, browser.js("const s = arguments[0]; const card = document.getElementById('detail').getBoundingClientRect();"
                            + "const r = s.getBoundingClientRect(); s.scrollLeft = 200;"
                            + "return r.left >= card.left - 1 && r.right <= card.right + 1 && s.scrollLeft > 0",
                    page.review("odd-1").findElement(By.className("diff-scroll"))), "the long line scrolls inside the patch");
        } finally {
            browser.viewport(1280, 800, false);
            browser.js("document.getElementById('tab-chat').click();");
        }
    }

    @Test
    void aPatchOverTwoMebibytesSaysItIsCut() throws Exception {
        String botId = "BIG-1";
        launchOverApi(botId, "big");
        submitOverApi(botId, "fill-1", "fill numbers.txt\n");
        page.selectBot(botId);
        WebElement review = page.awaitReview("fill-1");
        assertEquals("1 file changed +400000 \u22120", review.findElement(By.className("task-changes")).getText());
        page.click("fill-1", "diff");
        awaitUi().until(() -> page.review("fill-1").findElements(By.className("diff-patch")).size() == 1);
        assertContains(page.review("fill-1").findElement(By.className("diff-truncated")).getText(), "cut at 2 MiB");
        // The file list is whole; the patch holds the start of the file and stops before its end.
        assertEquals("+400000 \u22120", page.review("fill-1").findElement(By.className("diff-counts")).getText());
        String patch = (String) browser.js("return arguments[0].textContent", page.review("fill-1").findElement(By.className("diff-patch")));
        assertTrue(patch.startsWith("diff --git a/numbers.txt b/numbers.txt\n"), patch.substring(0, 300));
        assertTrue(patch.contains("\n@@ -0,0 +1,400000 @@\n+1\n+2\n+3\n"), patch.substring(0, 300));
        assertFalse(patch.contains("\n+400000"), "the end of the file is past the cut");
        assertTrue(patch.length() <= 2 * 1024 * 1024 + 1024, "patch of " + patch.length() + " characters");
        // One element per run of added lines, not one per line.
        assertEquals(1L, browser.js("return arguments[0].querySelectorAll('.diff-add').length",
                page.review("fill-1").findElement(By.className("diff-patch"))));
    }

    // ------------------------------------------------------------------ helpers

    private static Path repoRoot() {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("deia-server-example")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("repository root not found above " + dir);
    }

    /** A repository with one commit on main, its work tree checked out on main (as a user's checkout is). */
    private static Path newRepository(String name) {
        Path repo = tmp.resolve("repo-" + name);
        try {
            Files.createDirectories(repo);
            Files.writeString(repo.resolve("README.md"), "# " + name + "\n", StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        Git git = Git.at(repo);
        git.run("init", "-q", "-b", "main");
        git.run("add", "README.md");
        git.run("-c", "user.name=user", "-c", "user.email=user@example.invalid", "commit", "-q", "-m", "first");
        return repo;
    }

    private static Path repo(String project) {
        return tmp.resolve("repo-" + project);
    }

    private void launchOverApi(String botId, String project) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/launch",
                "{\"bot_id\":\"" + botId + "\",\"profile\":\"writer\",\"project\":\"" + project + "\"}");
        assertTrue(r.statusCode() / 100 == 2, r.statusCode() + " " + r.body());
    }

    private void submitOverApi(String botId, String taskId, String prompt) throws Exception {
        String task = "---\ntask_id: " + taskId + "\n---\n" + prompt;
        HttpResponse<String> r = serve.post("/api/bot/" + botId + "/tasks",
                "{\"task\":" + io.deia.core.internal.io.Json.write(task) + "}");
        assertEquals(201, r.statusCode(), r.body());
    }

    private static void assertContains(String actual, String expected) {
        assertTrue(actual != null && actual.contains(expected), "expected to contain <" + expected + "> but was <" + actual + ">");
    }

    private static void assertLacks(String actual, String unexpected) {
        assertFalse(actual.contains(unexpected), "expected not to contain <" + unexpected + "> but was <" + actual + ">");
    }
}
