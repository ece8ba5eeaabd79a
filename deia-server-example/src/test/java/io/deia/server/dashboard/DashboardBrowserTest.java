package io.deia.server.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.NoAlertPresentException;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.Select;

/**
 * The dashboard in a real headless Chromium against a real {@code serve} with real bot processes
 * ({@code command} agents: an echo that streams its reply in two lines, and {@code tr a-z A-Z}, so
 * the two bots answer differently). One browser session and one controller for the whole class (the
 * machine has two shared cores), with one echo and one upper bot launched before the tests for those
 * that only chat; a test that launches from the page, breaks, restarts or stops something uses bots
 * of its own. No test relies on what another did, so they run in any order; each starts on the
 * connected dashboard.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardBrowserTest {
    /** Shared: launched before the tests, only chatted with (no test stops or breaks them). */
    private static final String ECHO = "ECHO-1";
    private static final String UPPER = "UPPER-1";
    /** Each launched, broken, interrupted or stopped by one test only. */
    private static final String LAUNCHED_ECHO = "ECHO-2";
    private static final String LAUNCHED_UPPER = "UPPER-2";
    private static final String DEGRADED = "DEGRADED-1";
    private static final String INTERRUPTED = "INTERRUPTED-1";
    private static final String STOPPED = "STOPPED-1";
    private static final String HOSTILE = "<img src=x onerror=alert(1)> and <script>window.__pwned=1</script>";
    private static final Set<String> LIVE = Set.of("starting", "idle", "busy", "paused", "stopping");

    @TempDir
    static Path tmp;

    private ServeProcess serve;
    private Browser browser;
    /** Console errors a step expects (e.g. the 422 of a launch that must fail), cleared after each step. */
    private Predicate<String> allowedConsole = m -> false;

    @BeforeAll
    void startServerAndBrowser() throws Exception {
        Path hive = tmp.resolve("hive");
        Files.createDirectories(hive);
        Path config = tmp.resolve("deia.json");
        // echo streams the prompt as its first line, then a second line two seconds later: the test sees the stream.
        // A prompt with "halfway" waits a minute instead, so the interrupt test's click always lands
        // before the second line, however slow a loaded machine makes the browser.
        Files.writeString(config, """
                {
                  "ports": {"from": 18600, "to": 18699},
                  "profiles": {
                    "echo":   {"agent": "command", "executable": "/bin/sh",
                               "args": ["-c", "p=$(cat); printf %s \\"$p\\"; echo; case \\"$p\\" in *halfway*) sleep 60;; *) sleep 2;; esac; echo '[done]'"]},
                    "upper":  {"agent": "command", "executable": "/usr/bin/tr", "args": ["a-z", "A-Z"],
                               "deny_patterns": ["rm -rf"]},
                    "broken": {"agent": "command", "executable": "/nonexistent/deia-agent"}
                  }
                }
                """, StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, config, tmp.resolve("serve.log"));
        serve.start();
        launchOverApi(ECHO, "echo");
        launchOverApi(UPPER, "upper");
        browser = new Browser(tmp.resolve("chromium-profile"));
    }

    /** Each test starts on the signed-in, connected dashboard at desktop size, whatever the one before left. */
    @BeforeEach
    void onTheConnectedDashboard() {
        browser.viewport(1280, 800, false);
        if (!browser.driver.getCurrentUrl().startsWith(serve.baseUrl()) || !"connected".equals(connStateOrNull())) {
            browser.driver.get(serve.dashboardUrl());
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .until(() -> "connected".equals(connState()));
        }
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (browser != null) {
                browser.close();
            }
        } finally {
            if (serve != null) {
                serve.stopBots(List.of(ECHO, UPPER, LAUNCHED_ECHO, LAUNCHED_UPPER, DEGRADED, INTERRUPTED, STOPPED));
                serve.close();
            }
        }
    }

    @AfterEach
    void noConsoleErrors() {
        List<String> errors = browser.consoleErrors(allowedConsole);
        allowedConsole = m -> false;
        browser.clearConsole();
        assertTrue(errors.isEmpty(), "browser console errors: " + errors);
    }

    // ------------------------------------------------------------------ steps

    @Test
    void tokenUrlBecomesCookieAndPageLoadsEverythingItLinks() throws Exception {
        browser.driver.get(serve.dashboardUrl());
        await().until(() -> browser.driver.getCurrentUrl().equals(serve.baseUrl() + "/"));
        awaitUi().until(() -> "connected".equals(connState()));
        assertEquals("deia dashboard", browser.driver.getTitle());
        assertEquals(Boolean.FALSE, browser.js("return document.cookie.includes('deia_token')"),
                "the token cookie is HttpOnly, invisible to script");

        // Every resource the page asked for loaded (no 4xx/5xx, no network failure) ...
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> failed = (List<Map<String, Object>>) browser.js(
                "return performance.getEntriesByType('resource')"
                        + ".filter(e => e.responseStatus === 0 || e.responseStatus >= 400)"
                        + ".map(e => ({name: e.name, status: e.responseStatus}));");
        assertTrue(failed.isEmpty(), "failed resource loads: " + failed);
        // ... and every link, script, stylesheet and image the page names is really there.
        @SuppressWarnings("unchecked")
        List<String> urls = (List<String>) browser.js(
                "return Array.from(document.querySelectorAll('a[href], link[href], script[src], img[src]'))"
                        + ".map(e => e.href || e.src);");
        assertFalse(urls.isEmpty(), "the page names its resources");
        HttpClient http = HttpClient.newHttpClient();
        for (String url : urls) {
            HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(url))
                    .header("Cookie", "deia_token=" + serve.token()).build(), HttpResponse.BodyHandlers.discarding());
            assertEquals(200, r.statusCode(), url);
        }
    }

    @Test
    void launchDialogValidatesAsYouTypeAndShowsTheServersError() {
        openLaunchDialog();
        WebElement id = browser.driver.findElement(By.id("launch-id"));
        id.clear();
        id.sendKeys("bad id!");
        assertEquals("true", id.getAttribute("aria-invalid"));
        assertFalse(browser.driver.findElement(By.id("launch-submit")).isEnabled());
        assertContains(browser.driver.findElement(By.id("launch-id-hint")).getText(), "Not a valid bot id");

        id.clear();
        id.sendKeys("BROKEN-1");
        assertEquals("false", id.getAttribute("aria-invalid"));
        new Select(browser.driver.findElement(By.id("launch-profile"))).selectByValue("broken");
        allowedConsole = m -> m.contains("/api/bot/launch") && m.contains("status of 4");
        browser.driver.findElement(By.id("launch-submit")).click();
        WebElement error = browser.driver.findElement(By.id("launch-error"));
        awaitUi().until(error::isDisplayed);
        assertTrue(error.getText().startsWith("Launch failed:"), error.getText());
        assertContains(error.getText(), "/nonexistent/deia-agent");

        // Escape closes the dialog.
        id.sendKeys(Keys.ESCAPE);
        awaitUi().until(() -> !dialogOpen("launch-dialog"));
    }

    @Test
    void launchTwoBotsChatWithStreamingAndNoMixing() {
        launchFromUi(LAUNCHED_ECHO, "echo");
        launchFromUi(LAUNCHED_UPPER, "upper");
        awaitUi().until(() -> LIVE.contains(botItemState(LAUNCHED_ECHO)) && LIVE.contains(botItemState(LAUNCHED_UPPER)));

        selectBot(LAUNCHED_ECHO);
        send("hello from echo");
        // The first line shows while the agent is still running: streamed, with the working indicator on.
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(LAUNCHED_ECHO);
            return r != null && Boolean.TRUE.equals(r.get("streaming"))
                    && ((String) r.get("text")).contains("hello from echo") && !((String) r.get("text")).contains("[done]");
        });
        assertTrue(browser.driver.findElement(By.id("working")).isDisplayed(), "working indicator shown");
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(LAUNCHED_ECHO);
            return Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains("[done]");
        });
        assertEquals("hello from echo\n[done]\n", lastReply(LAUNCHED_ECHO).get("text"));

        selectBot(LAUNCHED_UPPER);
        assertLacks(visibleChatText(), "hello from echo");
        send("hello from upper");
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(LAUNCHED_UPPER);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains("HELLO FROM UPPER");
        });
        assertLacks(chatText(LAUNCHED_UPPER), "hello from echo", "[done]");
        assertLacks(chatText(LAUNCHED_ECHO), "HELLO FROM UPPER", "hello from upper");

        selectBot(LAUNCHED_ECHO);
        assertContains(visibleChatText(), "hello from echo");
        assertLacks(visibleChatText(), "HELLO FROM UPPER");
    }

    @Test
    void submitTaskAndSeeItsResponse() {
        selectBot(UPPER);
        WebElement text = browser.driver.findElement(By.id("task-text"));
        text.sendKeys("---\ntask_id: shout-1\n---\nplease shout this");
        browser.driver.findElement(By.id("task-submit")).click();
        awaitUi().until(() -> browser.driver.findElement(By.id("task-msg")).getText().contains("shout-1"));
        By response = By.cssSelector("#task-responses li.response[data-task-id='shout-1']");
        awaitUi().until(() -> !browser.driver.findElements(response).isEmpty());
        // Read in a retried step: a task event may re-render the list between finding and reading.
        assertContains(awaitUi().until(() -> browser.driver.findElement(response).getAttribute("class"),
                java.util.Objects::nonNull), "status-completed");
        assertContains(openResponse(response), "PLEASE SHOUT THIS");
    }

    @Test
    void aBotThatCannotWriteResponsesShowsDegradedWithTheReasonUntilItCan() throws Exception {
        launchShown(DEGRADED, "upper");
        selectBot(DEGRADED);
        Path responses = new io.deia.core.HiveLayout(tmp.resolve("hive")).responsesDir(DEGRADED);
        Path aside = tmp.resolve("responses-aside");
        Files.move(responses, aside);
        Files.writeString(responses, "in the way");
        WebElement text = browser.driver.findElement(By.id("task-text"));
        text.sendKeys("---\ntask_id: stuck-1\n---\nstuck for a while");
        browser.driver.findElement(By.id("task-submit")).click();
        awaitUi().until(() -> "degraded".equals(botItemState(DEGRADED)));
        awaitUi().until(() -> browser.driver.findElement(By.id("bot-error")).getText()
                .contains("Degraded: cannot write task responses"));
        assertTrue(browser.driver.findElement(By.id("bot-error")).isDisplayed());
        assertEquals("degraded", browser.driver.findElement(By.id("bot-state")).getText().toLowerCase(java.util.Locale.ROOT));

        Files.delete(responses);
        Files.move(aside, responses);
        awaitUi().until(() -> "idle".equals(botItemState(DEGRADED)));
        awaitUi().until(() -> !browser.driver.findElement(By.id("bot-error")).isDisplayed());
        By response = By.cssSelector("#task-responses li.response[data-task-id='stuck-1']");
        awaitUi().until(() -> !browser.driver.findElements(response).isEmpty());
        assertContains(openResponse(response), "STUCK FOR A WHILE");
    }

    @Test
    void hostileBotOutputIsShownAsTextAndRunsNothing() {
        selectBot(ECHO);
        send(HOSTILE);
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(ECHO);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains(HOSTILE)
                    && ((String) r.get("text")).contains("[done]");
        });
        assertContains((String) lastReply(ECHO).get("text"), HOSTILE);
        assertContains(visibleChatText(), HOSTILE);
        assertNoScriptRan();

        // The same through a task: its response output is shown inert too.
        WebElement text = browser.driver.findElement(By.id("task-text"));
        text.sendKeys("---\ntask_id: hostile-1\n---\n" + HOSTILE);
        browser.driver.findElement(By.id("task-submit")).click();
        By response = By.cssSelector("#task-responses li.response[data-task-id='hostile-1']");
        awaitUi().until(() -> !browser.driver.findElements(response).isEmpty());
        assertContains(openResponse(response), HOSTILE);
        assertNoScriptRan();
    }

    @Test
    void aRefusedMessageShowsItsErrorInPlace() {
        selectBot(UPPER);
        send("please rm -rf the tmp folder");
        By error = By.cssSelector(".chat-log[data-bot-id='" + UPPER + "'] .msg-error");
        awaitUi().until(() -> !browser.driver.findElements(error).isEmpty());
        String text = browser.driver.findElement(error).getText();
        assertContains(text, "deny pattern");
        assertContains(text, "[unprocessable]");
        // In place: the error sits right under the message it is about, and nothing was answered.
        assertEquals("please rm -rf the tmp folder", browser.js(
                "const e = arguments[0]; return e.previousElementSibling.querySelector('.msg-text').textContent;",
                browser.driver.findElement(error)));
        assertLacks(chatText(UPPER), "PLEASE RM -RF");
        assertFalse(browser.driver.findElement(By.id("working")).isDisplayed(), "no working indicator after a refusal");
    }

    @Test
    void interruptEndsTheTurnAndTheBotStaysUp() throws Exception {
        launchShown(INTERRUPTED, "echo");
        selectBot(INTERRUPTED);
        send("stop me halfway");
        // The echo agent sleeps between its two lines: interrupt while the first one is on screen.
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(INTERRUPTED);
            return Boolean.TRUE.equals(r.get("streaming")) && ((String) r.get("text")).contains("stop me halfway");
        });
        WebElement interrupt = browser.driver.findElement(By.id("interrupt-btn"));
        assertTrue(interrupt.isEnabled(), "interrupt is offered while a reply streams");
        interrupt.click();
        awaitUi().until(() -> Boolean.FALSE.equals(lastReply(INTERRUPTED).get("streaming")));
        assertLacks((String) lastReply(INTERRUPTED).get("text"), "[done]");
        // The interrupt call's answer and the turn's end travel separately (REST and WebSocket): await both.
        awaitUi().until(() -> chatText(INTERRUPTED).contains("Interrupted."));
        assertContains((String) browser.js(
                "const m = document.querySelectorAll('.chat-log[data-bot-id=\"' + arguments[0] + '\"] .msg-assistant');"
                        + "return m[m.length - 1].querySelector('.msg-meta').textContent;", INTERRUPTED), "interrupted");
        awaitUi().until(() -> "idle".equals(botItemState(INTERRUPTED)));
    }

    @Test
    void screenshotsAtDesktopAndPhoneWidths() throws Exception {
        Path img = repoRoot().resolve("docs").resolve("img");
        selectBot(UPPER);
        send("hello from upper, at two widths");
        awaitReply(UPPER, "HELLO FROM UPPER, AT TWO WIDTHS");
        browser.viewport(1280, 800, false);
        awaitUi().until(() -> visibleChatText().contains("HELLO FROM UPPER"));
        browser.screenshot(img.resolve("dashboard-desktop.png"));
        browser.viewport(390, 844, true);
        browser.js("window.scrollTo(0, 0)");
        awaitUi().until(() -> browser.driver.findElement(By.id("tab-chat")).isDisplayed());
        browser.screenshot(img.resolve("dashboard-phone.png"));
        browser.viewport(1280, 800, false);
        assertTrue(Files.size(img.resolve("dashboard-desktop.png")) > 0);
        assertTrue(Files.size(img.resolve("dashboard-phone.png")) > 0);
    }

    @Test
    void serverRestartShowsDisconnectReconnectsAndTheConversationContinues() throws Exception {
        selectBot(UPPER);
        send("hello from upper before the restart");
        awaitReply(UPPER, "HELLO FROM UPPER BEFORE THE RESTART");
        serve.stop();
        awaitUi().until(() -> "disconnected".equals(connState()));
        assertContains(browser.driver.findElement(By.id("conn")).getText(), "disconnected");

        serve.start();
        // While the server was down the browser logged its failed reconnect attempts; nothing else is allowed.
        allowedConsole = m -> m.contains("WebSocket connection to") || m.contains("ERR_CONNECTION_REFUSED");
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                .until(() -> "connected".equals(connState()));
        awaitUi().until(() -> LIVE.contains(botItemState(UPPER)));
        awaitUi().until(() -> visibleChatText().contains("HELLO FROM UPPER"));

        send("after the restart");
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(UPPER);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains("AFTER THE RESTART");
        });
        assertLacks(chatText(ECHO), "AFTER THE RESTART");
    }

    @Test
    void stopWithConfirmationAndTheBotLeavesTheRunningState() throws Exception {
        launchShown(STOPPED, "echo");
        selectBot(STOPPED);
        browser.driver.findElement(By.id("stop-btn")).click();
        awaitUi().until(() -> dialogOpen("stop-dialog"));
        // Cancel first: nothing happens.
        browser.driver.findElement(By.id("stop-cancel")).click();
        awaitUi().until(() -> !dialogOpen("stop-dialog"));
        assertTrue(LIVE.contains(botItemState(STOPPED)), "still running after cancel");

        browser.driver.findElement(By.id("stop-btn")).click();
        awaitUi().until(() -> dialogOpen("stop-dialog"));
        browser.driver.findElement(By.id("stop-confirm")).click();
        // The runner deregisters itself and the launcher then records it as stopped (the router may
        // report "removed" in between): wait for the settled state.
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                .until(() -> "stopped".equals(botItemState(STOPPED)));
        assertFalse(browser.driver.findElement(By.id("working")).isDisplayed(), "no working indicator on a stopped bot");
        assertEquals("stopped", browser.driver.findElement(By.id("bot-state")).getText().toLowerCase(java.util.Locale.ROOT));
        assertFalse(browser.driver.findElement(By.id("stop-btn")).isEnabled());
        assertTrue(LIVE.contains(botItemState(UPPER)), "the other bot still runs");
    }

    // ------------------------------------------------------------------ helpers

    /** Launches a bot through the controller's API (the page's own launch is tested once, from the dialog). */
    private void launchOverApi(String botId, String profile) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + botId + "\",\"profile\":\"" + profile + "\"}");
        assertEquals(201, r.statusCode(), r.body());
    }

    /** {@link #launchOverApi}, then waits until the page lists the bot as running. */
    private void launchShown(String botId, String profile) throws Exception {
        launchOverApi(botId, profile);
        awaitUi().until(() -> LIVE.contains(botItemState(botId)));
    }

    /** Waits until the newest reply of the bot is complete and contains {@code text}: that reply, not an earlier one. */
    private void awaitReply(String botId, String text) {
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(botId);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains(text);
        });
    }

    /** The connection state the page shows, or null before the page has one. */
    private String connStateOrNull() {
        try {
            return connState();
        } catch (org.openqa.selenium.WebDriverException e) {
            return null;
        }
    }

    private static ConditionFactory awaitUi() {
        return await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).ignoreExceptions();
    }

    private String connState() {
        return browser.driver.findElement(By.id("conn")).getAttribute("data-state");
    }

    private boolean dialogOpen(String id) {
        return Boolean.TRUE.equals(browser.js("return document.getElementById(arguments[0]).open", id));
    }

    private void openLaunchDialog() {
        browser.driver.findElement(By.id("launch-open")).click();
        awaitUi().until(() -> dialogOpen("launch-dialog"));
        awaitUi().until(() -> !new Select(browser.driver.findElement(By.id("launch-profile"))).getOptions().isEmpty());
    }

    private void launchFromUi(String botId, String profile) {
        openLaunchDialog();
        WebElement id = browser.driver.findElement(By.id("launch-id"));
        id.clear();
        id.sendKeys(botId);
        new Select(browser.driver.findElement(By.id("launch-profile"))).selectByValue(profile);
        browser.driver.findElement(By.id("launch-submit")).click();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> !dialogOpen("launch-dialog"));
        awaitUi().until(() -> botId.equals(browser.driver.findElement(By.id("bot-title")).getText()));
    }

    /**
     * Opens a task response (a click on its summary, as a user would) and returns its output. A
     * task event may re-render the list at any moment (the page keeps an opened response open), so
     * the text is read in the same retried step that finds the element: an element found before a
     * re-render is stale after it.
     */
    private String openResponse(By response) {
        return awaitUi().until(() -> {
            WebElement details = browser.driver.findElement(response).findElement(By.tagName("details"));
            if (details.getAttribute("open") == null) {
                details.findElement(By.tagName("summary")).click();
            }
            WebElement output = browser.driver.findElement(response).findElement(By.className("task-output"));
            return output.isDisplayed() ? output.getText() : null;
        }, java.util.Objects::nonNull);
    }

    private String botItemState(String botId) {
        return browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + botId + "']")).getAttribute("data-state");
    }

    private void selectBot(String botId) {
        browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + botId + "']")).click();
        awaitUi().until(() -> botId.equals(browser.driver.findElement(By.id("bot-title")).getText()));
    }

    /** Types into the chat box and presses Enter (the keyboard path). */
    private void send(String text) {
        WebElement input = browser.driver.findElement(By.id("chat-input"));
        awaitUi().until(() -> browser.driver.findElement(By.id("send-btn")).isEnabled());
        input.sendKeys(text);
        input.sendKeys(Keys.ENTER);
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> lastReply(String botId) {
        return (Map<String, Object>) browser.js(
                "const log = document.querySelector('.chat-log[data-bot-id=\"' + arguments[0] + '\"]');"
                        + "if (!log) return null; const all = log.querySelectorAll('.msg-assistant');"
                        + "if (!all.length) return null; const m = all[all.length - 1];"
                        + "return {text: m.querySelector('.msg-text').textContent, streaming: m.classList.contains('streaming')};",
                botId);
    }

    private String chatText(String botId) {
        return (String) browser.js(
                "const log = document.querySelector('.chat-log[data-bot-id=\"' + arguments[0] + '\"]');"
                        + "return log ? log.textContent : '';", botId);
    }

    /** What the user sees: only the selected bot's log is displayed. */
    private String visibleChatText() {
        return browser.driver.findElement(By.id("chat-logs")).getText();
    }

    private void assertNoScriptRan() {
        try {
            browser.driver.switchTo().alert();
            throw new AssertionError("an alert opened: bot output ran script");
        } catch (NoAlertPresentException expected) {
            // no dialog: good
        }
        assertEquals("undefined", browser.js("return typeof window.__pwned"));
        assertTrue(browser.driver.findElements(By.cssSelector(
                "#chat-logs img, #chat-logs script, #task-responses img, #task-responses script")).isEmpty(),
                "no element made from bot output");
    }

    private static void assertContains(String actual, String expected) {
        assertTrue(actual != null && actual.contains(expected), "expected to contain <" + expected + "> but was <" + actual + ">");
    }

    private static void assertLacks(String actual, String... unexpected) {
        for (String u : unexpected) {
            assertFalse(actual.contains(u), "expected not to contain <" + u + "> but was <" + actual + ">");
        }
    }

    private static Path repoRoot() {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("deia-server-example")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("repository root not found above " + dir);
    }
}
