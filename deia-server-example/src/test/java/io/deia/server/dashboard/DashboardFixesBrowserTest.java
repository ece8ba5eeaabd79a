package io.deia.server.dashboard;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
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
import org.openqa.selenium.WebElement;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.Select;

/**
 * The dashboard defects of issue 23, each reproduced in a real headless Chromium against a real
 * {@code serve} with real bot runners: input is never lost (outbox, Retry, server-side dedupe by
 * {@code client_msg_id}), every state is told truthfully (restarts, last error, durable task count,
 * Stop while restarting, why a stopped bot cannot answer, launch errors), and the page is safe and
 * readable (bidi controls shown, WCAG contrast measured, layout for 1-50 bots, sign-in screen).
 * One controller and one browser for the whole class, with one echo bot launched before the tests
 * for those that only chat with it; a test that leaves a message pending across a controller
 * restart, or kills or stops a bot, launches its own. No test relies on what another did, so they
 * run in any order; each starts on the connected dashboard.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardFixesBrowserTest {
    /** Shared: launched before the tests, only chatted with (no test kills or stops it). */
    private static final String ECHO = "ECHO-1";
    /** Each launched, killed or stopped by one test only. */
    private static final String KEPT = "KEPT-1";
    private static final String KILLED = "KILLED-1";
    private static final String SLOW = "SLOW-1";
    private static final String FRAGILE = "FRAGILE-1";
    private static final String STOPPED = "STOPPED-1";
    private static final Set<String> LIVE = Set.of("starting", "idle", "busy", "paused", "stopping");

    @TempDir
    static Path tmp;

    private ServeProcess serve;
    private Browser browser;
    private Path turns;
    private Predicate<String> allowedConsole = m -> false;

    @BeforeAll
    void startServerAndBrowser() throws Exception {
        Path hive = tmp.resolve("hive");
        Files.createDirectories(hive);
        turns = tmp.resolve("turns.log");
        Files.writeString(turns, "");
        // Every turn the echo agent runs leaves its prompt as one line in turns.log: a second turn for
        // one message would show there. "slow" waits 30 s before a restart, so "restarting" lasts.
        String echo = "p=$(cat); printf '%s\\\\n' \\\"$p\\\" >> " + turns + "; printf %s \\\"$p\\\"; echo; sleep 1; echo '[done]'";
        Files.writeString(tmp.resolve("deia.json"), """
                {
                  "ports": {"from": 18700, "to": 18799},
                  "profiles": {
                    "echo": {"agent": "command", "executable": "/bin/sh", "args": ["-c", "%s"],
                             "deny_patterns": ["rm -rf"]},
                    "slow": {"agent": "command", "executable": "/bin/cat",
                             "restart": {"backoff_initial_ms": 30000, "backoff_max_ms": 30000}},
                    "fragile": {"agent": "command", "executable": "/bin/cat", "restart": {"policy": "never"}},
                    "broken": {"agent": "command", "executable": "/nonexistent/deia-agent"}
                  }
                }
                """.formatted(echo), StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, tmp.resolve("deia.json"), tmp.resolve("serve.log"));
        serve.start();
        launchOverApi(ECHO, "echo");
        browser = new Browser(tmp.resolve("chromium-profile"));
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (browser != null) {
                browser.close();
            }
        } finally {
            if (serve != null) {
                serve.stopBots(List.of(ECHO, KEPT, KILLED, SLOW, FRAGILE, STOPPED));
                serve.close();
            }
        }
    }

    /**
     * Each test starts on the signed-in, connected dashboard at desktop size without a dialog open,
     * whatever the one before left (so one failure does not hide the next).
     */
    @BeforeEach
    void onTheConnectedDashboardWithNoDialogOpen() {
        browser.viewport(1280, 800, false);
        if (!browser.driver.getCurrentUrl().startsWith(serve.baseUrl()) || !"connected".equals(connStateOrNull())) {
            browser.driver.get(serve.dashboardUrl());
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .until(() -> "connected".equals(connState()));
        }
        browser.js("document.querySelectorAll('dialog[open]').forEach(d => d.close());");
    }

    @AfterEach
    void noConsoleErrors() {
        List<String> errors = browser.consoleErrors(allowedConsole);
        allowedConsole = m -> false;
        browser.clearConsole();
        assertTrue(errors.isEmpty(), "browser console errors: " + errors);
    }

    // ------------------------------------------------------------------ launch dialog (12, 7)

    @Test
    void aTooLongBotIdIsRefusedNotCutAndALaunchErrorLeavesWhenTheInputChanges() {
        openLaunchDialog();
        WebElement id = browser.driver.findElement(By.id("launch-id"));
        id.clear();
        // Pasted, as a user would: 65 characters.
        String tooLong = "A".repeat(65);
        browser.js("const i = arguments[0]; i.value = arguments[1]; i.dispatchEvent(new Event('input'));", id, tooLong);
        assertEquals(tooLong, id.getAttribute("value"), "the id is kept whole, never cut to 64");
        assertEquals("true", id.getAttribute("aria-invalid"));
        assertContains(browser.driver.findElement(By.id("launch-id-hint")).getText(), "65 characters");
        assertFalse(browser.driver.findElement(By.id("launch-submit")).isEnabled());

        id.clear();
        id.sendKeys("BROKEN-1");
        new Select(browser.driver.findElement(By.id("launch-profile"))).selectByValue("broken");
        allowedConsole = m -> m.contains("/api/bot/launch") && m.contains("status of 4");
        browser.driver.findElement(By.id("launch-submit")).click();
        WebElement error = browser.driver.findElement(By.id("launch-error"));
        awaitUi().until(error::isDisplayed);
        assertContains(error.getText(), "Launch failed");
        // A new id: the old error is no longer about what the form says.
        id.sendKeys("X");
        awaitUi().until(() -> !error.isDisplayed());
        // Same for the profile.
        browser.driver.findElement(By.id("launch-submit")).click();
        awaitUi().until(error::isDisplayed);
        new Select(browser.driver.findElement(By.id("launch-profile"))).selectByValue("echo");
        awaitUi().until(() -> !error.isDisplayed());
        id.sendKeys(Keys.ESCAPE);
        awaitUi().until(() -> !dialogOpen("launch-dialog"));
    }

    // ------------------------------------------------------------------ never lose input (1, 5)

    @Test
    void aMessageSentWhileTheControllerIsDownIsKeptAcrossReconnectAndReloadAndRetriedOnce() throws Exception {
        launchShown(KEPT, "echo");
        selectBot(KEPT);
        serve.stop();
        By unsent = By.cssSelector(".chat-log[data-bot-id='" + KEPT + "'] .msg-user.unsent");
        try {
            awaitUi().until(() -> "disconnected".equals(connState()));
            allowedConsole = m -> m.contains("WebSocket connection to") || m.contains("ERR_CONNECTION_REFUSED");
            send("kept while down");
            awaitUi().until(() -> browser.driver.findElement(unsent).isDisplayed());
            assertContains(browser.driver.findElement(unsent).getText(), "not sent");
            assertLacks(browser.driver.findElement(unsent).getText(), "sending");
        } finally {
            serve.start();
        }
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> "connected".equals(connState()));
        // After the reconnect the chat is rebuilt from the server: the unsent message is still there.
        awaitUi().until(() -> LIVE.contains(botItemState(KEPT)));
        // The log is rebuilt after the reconnect: await the message there rather than read the log mid-rebuild.
        awaitUi().until(() -> browser.driver.findElement(unsent).isDisplayed());
        assertEquals("kept while down", browser.driver.findElement(unsent).findElement(By.className("msg-text")).getText());

        // And after a reload of the page (sessionStorage).
        browser.driver.navigate().refresh();
        awaitUi().until(() -> "connected".equals(connState()));
        selectBot(KEPT);
        awaitUi().until(() -> browser.driver.findElement(unsent).isDisplayed());
        assertEquals("kept while down", browser.driver.findElement(unsent).findElement(By.className("msg-text")).getText());

        browser.driver.findElement(By.cssSelector(".chat-log[data-bot-id='" + KEPT + "'] .retry-btn")).click();
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(KEPT);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains("kept while down");
        });
        assertTrue(browser.driver.findElements(unsent).isEmpty(), "confirmed: no longer marked unsent");
        assertEquals("[]", browser.js("return JSON.stringify(window.deiaOutbox.list(arguments[0]))", KEPT));
        assertEquals(1, turnsOf("kept while down"));
    }

    @Test
    void aRetriedClientMsgIdNeverStartsASecondTurn() throws Exception {
        // A second client on the page's own origin and cookie sends one message twice (as a Retry
        // after a lost acknowledgement does), once while its turn runs and once after it ended.
        browser.js("window.__dup = []; const ws = new WebSocket('ws://' + location.host + '/ws');"
                + "ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.client_msg_id === 'dup-1') window.__dup.push(m); };"
                + "ws.onopen = () => { const m = JSON.stringify({type: 'message', bot_id: arguments[0], text: 'only once', client_msg_id: 'dup-1'});"
                + " ws.send(m); ws.send(m); window.__dupWs = ws; };", ECHO);
        awaitUi().until(() -> dupEvents("reply") >= 1);
        browser.js("window.__dupWs.send(JSON.stringify({type: 'message', bot_id: arguments[0], text: 'only once', client_msg_id: 'dup-1'}));", ECHO);
        awaitUi().until(() -> dupEvents("reply") >= 2 && dupEvents("ack") >= 3);
        assertEquals(1, turnsOf("only once"), "one turn for three sends of one client_msg_id");
        assertEquals(2L, browser.js("return window.__dup.filter(m => m.type === 'ack' && m.duplicate === true).length"));
        browser.js("window.__dupWs.close()");
    }

    @Test
    void aRefusedMessageLosesItsSendingMarkAndKeepsItsTextWithRetry() {
        selectBot(ECHO);
        send("please rm -rf the tmp folder");
        By error = By.cssSelector(".chat-log[data-bot-id='" + ECHO + "'] .msg-error");
        awaitUi().until(() -> !browser.driver.findElements(error).isEmpty());
        assertContains(browser.driver.findElement(error).getText(), "deny pattern");
        String meta = (String) browser.js("return arguments[0].previousElementSibling.querySelector('.msg-meta').textContent;",
                browser.driver.findElement(error));
        assertLacks(meta, "sending");
        assertContains(meta, "not sent");
        browser.driver.findElement(By.cssSelector(".chat-log[data-bot-id='" + ECHO + "'] .msg-error .discard-btn")).click();
        awaitUi().until(() -> browser.driver.findElements(error).isEmpty());
        assertLacks(chatText(ECHO), "please rm -rf");
    }

    // ------------------------------------------------------------------ questions from elsewhere (2)

    @Test
    void aQuestionAskedElsewhereShowsLiveWithWhereItCameFrom() throws Exception {
        selectBot(ECHO);
        CompletableFuture<HttpResponse<String>> viaApi = CompletableFuture.supplyAsync(() -> {
            try {
                return serve.post("/api/bot/" + ECHO + "/message", "{\"text\":\"asked over the api\",\"client_msg_id\":\"api-1\"}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        By question = By.cssSelector(".chat-log[data-bot-id='" + ECHO + "'] .msg-user[data-client-msg-id='api-1']");
        awaitUi().until(() -> browser.driver.findElement(question).isDisplayed());
        assertEquals("asked over the api", browser.driver.findElement(question).findElement(By.className("msg-text")).getText());
        assertContains(browser.driver.findElement(question).findElement(By.className("msg-meta")).getText(), "API");
        assertEquals(200, viaApi.get().statusCode());
        awaitUi().until(() -> ((String) lastReply(ECHO).get("text")).contains("asked over the api"));
        // The reply sits under its question.
        assertEquals("api-1", browser.js("const q = arguments[0]; return q.nextElementSibling.dataset.clientMsgId;",
                browser.driver.findElement(question)));

        browser.js("const ws = new WebSocket('ws://' + location.host + '/ws');"
                + "ws.onopen = () => ws.send(JSON.stringify({type: 'message', bot_id: arguments[0], text: 'asked in another tab', client_msg_id: 'tab-2'}));",
                ECHO);
        By other = By.cssSelector(".chat-log[data-bot-id='" + ECHO + "'] .msg-user[data-client-msg-id='tab-2']");
        awaitUi().until(() -> browser.driver.findElement(other).isDisplayed());
        assertContains(browser.driver.findElement(other).findElement(By.className("msg-meta")).getText(), "another client");

        send("asked here");
        awaitReply(ECHO, "asked here");
        assertContains((String) browser.js(
                "const all = document.querySelectorAll('.chat-log[data-bot-id=\"' + arguments[0] + '\"] .msg-user');"
                        + "return all[all.length - 1].querySelector('.msg-meta').textContent;", ECHO), "this tab");
    }

    // ------------------------------------------------------------------ bidi (9)

    @Test
    void bidiControlsInBotOutputAreShownAsEscapes() {
        selectBot(ECHO);
        // Set as a value (a paste), then Enter: the keyboard driver cannot type U+202E itself.
        WebElement input = browser.driver.findElement(By.id("chat-input"));
        browser.js("arguments[0].value = arguments[1];", input, "abc\u202Egnp.exe");
        input.sendKeys(Keys.ENTER);
        awaitReply(ECHO, "gnp.exe");
        String reply = (String) lastReply(ECHO).get("text");
        assertContains(reply, "abc<U+202E>gnp.exe");
        assertLacks(chatText(ECHO), "\u202E");

        recordPosts();
        WebElement text = browser.driver.findElement(By.id("task-text"));
        browser.js("arguments[0].value = arguments[1];", text, "---\ntask_id: bidi-1\n---\nname \u2067evil\u2069 \u200Fx");
        browser.driver.findElement(By.id("task-submit")).click();
        By response = By.cssSelector("#task-responses li.response[data-task-id='bidi-1']");
        awaitUi().until(() -> !browser.driver.findElements(response).isEmpty());
        assertPostsWereJson(1);
        String output = openResponse(response);
        assertContains(output, "name <U+2067>evil<U+2069> <U+200F>x");
    }

    // ------------------------------------------------------------------ restarts, last error, tasks done (3)

    @Test
    void afterAKillTheRestartTheLastErrorAndTheTaskCountStay() throws Exception {
        launchShown(KILLED, "echo");
        HttpResponse<String> task = serve.post("/api/bot/" + KILLED + "/tasks",
                Json.write(Map.of("task", "---\ntask_id: before-kill-1\n---\ncounted before the kill\n")));
        assertEquals(201, task.statusCode(), task.body());
        selectBot(KILLED);
        awaitUi().until(() -> browser.driver.findElement(By.id("fact-tasks")).getText().startsWith("1"));
        long pid = botField(KILLED, "pid").asLong();
        assertTrue(pid > 0);
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> botField(KILLED, "pid").asLong() != pid && "idle".equals(botItemState(KILLED)));
        awaitUi().until(() -> "1".equals(browser.driver.findElement(By.id("fact-restarts")).getText()));
        WebElement error = browser.driver.findElement(By.id("bot-error"));
        awaitUi().until(error::isDisplayed);
        assertTrue(error.getText().matches("(?s)Last error \\(.+\\): .+"), error.getText());
        assertTrue(browser.driver.findElement(By.id("fact-tasks")).getText().startsWith("1"),
                "the task done before the restart is still counted: " + browser.driver.findElement(By.id("fact-tasks")).getText());
    }

    // ------------------------------------------------------------------ stop while restarting (4), stopped bot (6)

    @Test
    void stopWorksWhileTheBotIsRestarting() throws Exception {
        launchFromUi(SLOW, "slow");
        long pid = botField(SLOW, "pid").asLong();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        awaitUi().until(() -> "restarting".equals(botItemState(SLOW)));
        selectBot(SLOW);
        WebElement stop = browser.driver.findElement(By.id("stop-btn"));
        // Enabled while the bot is still restarting (the restart waits 30 s), not only after it.
        awaitUi().until(() -> "restarting".equals(botItemState(SLOW)) && stop.isEnabled());
        stop.click();
        awaitUi().until(() -> dialogOpen("stop-dialog"));
        recordPosts();
        browser.driver.findElement(By.id("stop-confirm")).click();
        awaitUi().until(() -> "stopped".equals(botItemState(SLOW)));
        assertPostsWereJson(1);
        assertFalse(browser.driver.findElement(By.id("stop-btn")).isEnabled(), "nothing left to stop");
    }

    @Test
    void aFailedBotShowsWhyInTheList() throws Exception {
        launchFromUi(FRAGILE, "fragile");
        long pid = botField(FRAGILE, "pid").asLong();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        awaitUi().until(() -> "failed".equals(botItemState(FRAGILE)));
        By reason = By.cssSelector(".bot-item[data-bot-id='" + FRAGILE + "'] .bot-reason");
        awaitUi().until(() -> browser.driver.findElement(reason).isDisplayed());
        assertEquals(botField(FRAGILE, "last_error").asText(), browser.driver.findElement(reason).getText());
    }

    @Test
    void aStoppedBotSaysWhyItCannotAnswerOffersLaunchAndShowsTheRefusal() throws Exception {
        launchShown(STOPPED, "slow");
        HttpResponse<String> stopped = serve.post("/api/bot/" + STOPPED + "/stop", "");
        assertEquals(200, stopped.statusCode(), stopped.body());
        awaitUi().until(() -> "stopped".equals(botItemState(STOPPED)));
        selectBot(STOPPED);
        WebElement notice = browser.driver.findElement(By.id("chat-notice"));
        awaitUi().until(notice::isDisplayed);
        assertContains(notice.getText(), "is stopped");
        // Typing and Enter are not ignored: the message is sent, the 503 is shown on it, the text stays.
        send("are you there?");
        By unsent = By.cssSelector(".chat-log[data-bot-id='" + STOPPED + "'] .msg-unsent-note");
        awaitUi().until(() -> browser.driver.findElement(unsent).isDisplayed());
        assertContains(browser.driver.findElement(unsent).getText(), "stopped");
        assertContains(browser.driver.findElement(unsent).getText(), "[unavailable]");

        WebElement launch = browser.driver.findElement(By.id("chat-launch"));
        assertTrue(launch.isDisplayed());
        launch.click();
        awaitUi().until(() -> dialogOpen("launch-dialog"));
        assertEquals(STOPPED, browser.driver.findElement(By.id("launch-id")).getAttribute("value"));
        awaitUi().until(() -> "slow".equals(new Select(browser.driver.findElement(By.id("launch-profile")))
                .getFirstSelectedOption().getAttribute("value")));
        browser.driver.findElement(By.id("launch-cancel")).click();
        awaitUi().until(() -> !dialogOpen("launch-dialog"));
    }

    // ------------------------------------------------------------------ contrast (10)

    @Test
    void badgesAndFocusRingsMeetWcagAaContrast() {
        selectBot(ECHO);
        // Every state badge and task status the stylesheet knows, as the page would render them.
        @SuppressWarnings("unchecked")
        List<String> low = (List<String>) browser.js(CONTRAST_JS
                + "const out = []; const host = document.getElementById('bot-view');"
                + "const states = ['idle','busy','starting','stopping','restarting','paused','failed','stopped','stale',"
                + " 'removed','unknown','unreachable','degraded','some-new-state'];"
                + "for (const s of states) { const b = document.createElement('span'); b.className = 'state-badge state-' + s;"
                + "  b.textContent = s; host.appendChild(b); const r = ratio(b); if (r < 4.5) out.push(s + ' ' + r.toFixed(2)); b.remove(); }"
                + "const list = document.getElementById('task-responses');"
                + "for (const s of ['completed','failed','rejected','timeout','interrupted','unknown']) {"
                + "  const li = document.createElement('li'); li.className = 'task-item response status-' + s;"
                + "  const b = document.createElement('span'); b.className = 'task-status'; b.textContent = s; li.appendChild(b);"
                + "  list.appendChild(li); const r = ratio(b); if (r < 4.5) out.push('task ' + s + ' ' + r.toFixed(2)); li.remove(); }"
                + "return out;");
        assertTrue(low.isEmpty(), "badges under 4.5:1: " + low);

        // Focus rings, reached with the keyboard as a user would: at least 3:1 against what is around them.
        browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);");
        List<String> weak = new ArrayList<>();
        int checked = 0;
        for (int i = 0; i < 14; i++) {
            new Actions(browser.driver).sendKeys(Keys.TAB).perform();
            @SuppressWarnings("unchecked")
            Map<String, Object> ring = (Map<String, Object>) browser.js(CONTRAST_JS
                    + "const e = document.activeElement; if (!e || e === document.body) return null;"
                    + "const cs = getComputedStyle(e); const w = parseFloat(cs.outlineWidth) || 0;"
                    + "const c = cs.outlineStyle === 'none' || w < 2 ? null : parse(cs.outlineColor);"
                    + "const bg = background(e.parentElement);"
                    + "return {what: e.id || e.className || e.tagName, r: c ? contrast(c, bg) : 0};");
            if (ring == null) {
                continue;
            }
            checked++;
            double r = ((Number) ring.get("r")).doubleValue();
            if (r < 3.0) {
                weak.add(ring.get("what") + " " + String.format("%.2f", r));
            }
        }
        assertTrue(checked >= 8, "the keyboard reached " + checked + " controls");
        assertTrue(weak.isEmpty(), "focus rings under 3:1 (0 = no visible ring): " + weak);
    }

    // ------------------------------------------------------------------ layout (11)

    @Test
    void layoutHoldsForOneToFiftyBotsOnPhoneAndDesktop() throws Exception {
        // A second controller whose registry lists 49 stopped bots besides one running: the page
        // must hold together at both sizes (nothing spills out of its card, nothing is wider than
        // the screen) with the few bots of the first controller and with fifty.
        checkLayout("a few bots");
        Path hive = tmp.resolve("hive50");
        Files.createDirectories(hive);
        DeiaConfig config = Json.read(Files.readString(tmp.resolve("deia.json")), DeiaConfig.class, "test config");
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(new HiveLayout(hive), config);
        for (int i = 1; i <= 50; i++) {
            registry.register(BotRecord.builder(String.format("BOT-%03d", i)).state(BotState.STOPPED)
                    .profile("echo").agent("command").build());
        }
        try (ServeProcess many = new ServeProcess(hive, tmp.resolve("deia.json"), tmp.resolve("serve50.log"))) {
            many.start();
            browser.driver.get(many.dashboardUrl());
            awaitUi().until(() -> "connected".equals(connState()));
            awaitUi().until(() -> browser.driver.findElements(By.cssSelector(".bot-item")).size() == 50);
            checkLayout("50 bots");
            // Back to the first controller before this one stops: the page must not watch it go.
            browser.driver.get(serve.dashboardUrl());
            awaitUi().until(() -> "connected".equals(connState()));
        }
        browser.viewport(1280, 800, false);
    }

    private void checkLayout(String what) throws java.io.IOException {
        for (int[] size : new int[][] {{390, 844}, {1280, 900}}) {
            browser.viewport(size[0], size[1], size[0] < 600);
            browser.js("window.scrollTo(0, 0)");
            awaitUi().until(() -> browser.driver.findElement(By.id("chat-form")).isDisplayed());
            @SuppressWarnings("unchecked")
            List<String> spills = (List<String>) browser.js(
                    "const card = document.getElementById('detail').getBoundingClientRect(); const out = [];"
                            + "for (const sel of ['.chat-log:not([hidden])', '#chat-form', '#chat-hint', '.bot-actions', '.bot-head']) {"
                            + "  const e = document.querySelector(sel); if (!e) continue; const r = e.getBoundingClientRect();"
                            + "  if (r.bottom > card.bottom + 1 || r.right > card.right + 1 || r.left < card.left - 1) out.push(sel + ' ' + JSON.stringify(r) + ' card ' + JSON.stringify(card)); }"
                            + "const side = document.querySelector('.sidebar').getBoundingClientRect();"
                            + "const list = document.getElementById('bot-list').getBoundingClientRect();"
                            + "if (list.bottom > side.bottom + 1) out.push('bot list spills out of the sidebar');"
                            + "if (document.documentElement.scrollWidth > window.innerWidth) out.push('wider than the screen: ' + document.documentElement.scrollWidth);"
                            + "const log = document.querySelector('.chat-log:not([hidden])').getBoundingClientRect();"
                            + "const form = document.getElementById('chat-form').getBoundingClientRect();"
                            + "if (form.top - log.bottom > 200) out.push('composer far from the log: ' + (form.top - log.bottom));"
                            + "return out;");
            assertTrue(spills.isEmpty(), what + " at " + size[0] + "x" + size[1] + ": " + spills);
            if (what.startsWith("50")) {
                browser.screenshot(repoRoot().resolve("docs/img/dashboard-" + (size[0] < 600 ? "phone" : "desktop") + "-50-bots.png"));
            }
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

    // ------------------------------------------------------------------ sign-in (8)

    @Test
    void withoutATokenOneSignInScreenAndAWrongTokenLinkGetsAPage() throws Exception {
        // Leave the signed-in page first: its polls must not meet the missing cookie.
        browser.driver.get("about:blank");
        browser.driver.executeCdpCommand("Network.clearBrowserCookies", Map.of());
        allowedConsole = m -> m.contains("/api/bots") && m.contains("401");
        browser.driver.get(serve.baseUrl() + "/");
        WebElement signin = browser.driver.findElement(By.id("signin"));
        awaitUi().until(signin::isDisplayed);
        assertContains(signin.getText(), "token");
        assertFalse(browser.driver.findElement(By.id("bot-empty")).isDisplayed(), "no 'No bots yet' beside the sign-in");
        assertFalse(browser.driver.findElement(By.id("launch-open")).isDisplayed());
        assertEquals("signedout", connState());
        assertEquals("not signed in", browser.driver.findElement(By.id("conn")).getText());

        // A wrong token link, as a browser asks for it: an HTML page that says what to do.
        HttpResponse<String> wrong = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create(serve.baseUrl() + "/?token=not-the-token")).header("Accept", "text/html,application/xhtml+xml").build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, wrong.statusCode());
        assertContains(wrong.headers().firstValue("Content-Type").orElse(""), "text/html");
        assertContains(wrong.body(), "This dashboard link is not valid");
        assertLacks(wrong.body(), "not-the-token");
        allowedConsole = m -> (m.contains("/api/bots") || m.contains("token=not-the-token")) && m.contains("401");
        browser.driver.get(serve.baseUrl() + "/?token=not-the-token");
        assertContains(browser.driver.findElement(By.tagName("h1")).getText(), "not valid");

        // The right link signs in again.
        browser.driver.get(serve.dashboardUrl());
        awaitUi().until(() -> "connected".equals(connState()));
        assertFalse(browser.driver.findElement(By.id("signin")).isDisplayed());
    }

    // ------------------------------------------------------------------ helpers

    /** Launches a bot through the controller's API (the page's own launch is tested by the steps that use the dialog). */
    private void launchOverApi(String botId, String profile) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + botId + "\",\"profile\":\"" + profile + "\"}");
        assertEquals(201, r.statusCode(), r.body());
    }

    /** {@link #launchOverApi}, then waits until the page lists the bot as running. */
    private void launchShown(String botId, String profile) throws Exception {
        launchOverApi(botId, profile);
        awaitUi().until(() -> LIVE.contains(botItemState(botId)));
    }

    /** The connection state the page shows, or null before the page has one. */
    private String connStateOrNull() {
        try {
            return connState();
        } catch (org.openqa.selenium.WebDriverException e) {
            return null;
        }
    }

    /** WCAG relative luminance and contrast of computed colours, with the effective background behind an element. */
    static final String CONTRAST_JS =
            "function parse(c) { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0,0,0,0];"
                    + " const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }"
                    + "function lum(c) { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };"
                    + " return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }"
                    + "function contrast(a, b) { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }"
                    + "function background(e) { for (; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);"
                    + " if (c[3] > 0.5) return c; } return [255, 255, 255, 1]; }"
                    + "function ratio(e) { return contrast(parse(getComputedStyle(e).color), background(e)); }";

    private static ConditionFactory awaitUi() {
        return await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).ignoreExceptions();
    }

    private int turnsOf(String prompt) throws Exception {
        return (int) Files.readAllLines(turns, StandardCharsets.UTF_8).stream().filter(prompt::equals).count();
    }

    /** Waits until the newest reply of the bot is complete (its last line came) and contains {@code text}. */
    private void awaitReply(String botId, String text) {
        awaitUi().until(() -> {
            Map<String, Object> r = lastReply(botId);
            return r != null && Boolean.FALSE.equals(r.get("streaming")) && ((String) r.get("text")).contains(text)
                    && ((String) r.get("text")).contains("[done]");
        });
    }

    /**
     * Records the page's POSTs from now on: the controller will refuse a state change that is not
     * {@code Content-Type: application/json}, so every POST of the page must say so.
     */
    private void recordPosts() {
        browser.js("window.__posts = []; if (!window.__fetch) { window.__fetch = window.fetch;"
                + " window.fetch = (url, opts) => { if (opts && opts.method === 'POST') window.__posts.push("
                + "  (opts.headers && opts.headers['Content-Type']) || 'none'); return window.__fetch(url, opts); }; }");
    }

    @SuppressWarnings("unchecked")
    private void assertPostsWereJson(int atLeast) {
        List<String> types = (List<String>) browser.js("return window.__posts");
        assertTrue(types.size() >= atLeast, "POSTs seen: " + types);
        assertTrue(types.stream().allMatch("application/json"::equals), "POST content types: " + types);
    }

    private long dupEvents(String type) {
        return ((Number) browser.js("return window.__dup.filter(m => m.type === arguments[0]).length", type)).longValue();
    }

    private JsonNode botField(String botId, String field) throws Exception {
        for (JsonNode b : Json.read(serve.get("/api/bots", true).body(), JsonNode.class, "bots").path("bots")) {
            if (botId.equals(b.path("bot_id").asText())) {
                return b.path(field);
            }
        }
        throw new AssertionError(botId + " is not listed");
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
        awaitUi().until(() -> {
            browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + botId + "']")).click();
            return botId.equals(browser.driver.findElement(By.id("bot-title")).getText());
        });
    }

    private void send(String text) {
        WebElement input = browser.driver.findElement(By.id("chat-input"));
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

    private static void assertContains(String actual, String expected) {
        assertTrue(actual != null && actual.contains(expected), "expected to contain <" + expected + "> but was <" + actual + ">");
    }

    private static void assertLacks(String actual, String... unexpected) {
        for (String u : unexpected) {
            assertFalse(actual.contains(u), "expected not to contain <" + u + "> but was <" + actual + ">");
        }
    }
}
