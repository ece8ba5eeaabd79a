package io.deia.server.dashboard;

import static io.deia.server.dashboard.ReviewPage.awaitUi;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;

/**
 * Permission requests on the dashboard (issue 22) in a real headless Chromium against a real
 * {@code serve} whose bots run the real Claude Code CLI (against the scripted model server) with
 * {@code approval.mode: ask}: a chat message makes the model ask for a shell command, the card
 * appears in the bot's chat with its tool, summary and input, the bot's row shows a badge, a reload
 * of the page lists the request again, and Allow lets the turn finish with the command's effect;
 * Deny with a reason leaves no effect and the card says denied. One controller and one browser for
 * the class; each test has its own bot, so the tests need no order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardPermissionsBrowserTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String KEY_VARIABLE = "DEIA_PERMDASH_ANTHROPIC_KEY";
    private static final List<String> BOTS = List.of("ASK-ALLOW", "ASK-DENY", "ASK-RACE", "ASK-LATE");

    @TempDir
    static Path tmp;

    private FakeAnthropicServer model;
    private ServeProcess serve;
    private Browser browser;
    private Predicate<String> allowedConsole = m -> false;

    @BeforeAll
    void startServerAndBrowser() throws Exception {
        model = new FakeAnthropicServer();
        Path hive = tmp.resolve("hive");
        Files.createDirectories(hive);
        Map<String, Object> profile = Map.of(
                "agent", "claude-code",
                "executable", AgentClis.claude().toString(),
                "model", "sonnet",
                "env", Map.of("ANTHROPIC_BASE_URL", model.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"),
                "secret_env", Map.of("ANTHROPIC_API_KEY", KEY_VARIABLE),
                "timeout_s", 300,
                "max_attempts", 1,
                "approval", Map.of("mode", "ask", "timeout_s", 600));
        // The same, but nobody has long to answer.
        Map<String, Object> quick = new HashMap<>(profile);
        quick.put("approval", Map.of("mode", "ask", "timeout_s", 4));
        Path config = tmp.resolve("deia.json");
        Files.writeString(config, JSON.writeValueAsString(Map.of(
                "ports", Map.of("from", 17700, "to", 17799),
                "profiles", Map.of("claude", profile, "claude-quick", quick))), StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, config, tmp.resolve("serve.log")).environment(Map.of(KEY_VARIABLE, "sk-ant-permdash"));
        serve.start();
        browser = new Browser(tmp.resolve("chromium-profile"));
        browser.driver.get(serve.dashboardUrl());
        awaitConnected();
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (browser != null) {
                browser.close();
            }
        } finally {
            try {
                if (serve != null) {
                    serve.stopBots(BOTS);
                    serve.close();
                }
            } finally {
                if (model != null) {
                    model.close();
                }
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

    @Test
    void allowOnTheCardLetsTheTurnRunTheCommand() throws Exception {
        String bot = "ASK-ALLOW";
        Path marker = tmp.resolve("allowed.txt");
        launch(bot);
        // Notifications: the user turns them on with the toggle (the browser grants the permission here).
        browser.driver.executeCdpCommand("Browser.grantPermissions", Map.of(
                "origin", serve.baseUrl(), "permissions", List.of("notifications")));
        WebElement toggle = browser.driver.findElement(By.id("notify-toggle"));
        assertEquals("Notify me", toggle.getText());
        toggle.click();
        awaitUi().until(() -> "true".equals(toggle.getAttribute("aria-pressed")));
        recordNotifications();

        say(bot, "RUN_BASH touch " + marker);
        WebElement card = awaitCard(bot, "pending");
        assertEquals("Bash", card.findElement(By.className("perm-tool")).getText());
        assertEquals("touch " + marker, card.findElement(By.className("perm-summary")).getText());
        assertTrue(card.findElement(By.className("perm-where")).getText().startsWith("chat"), card.getText());
        assertTrue(card.findElement(By.className("perm-expires")).getText().startsWith("Denied in "), card.getText());
        // The input is there as text, behind "Input", until opened.
        WebElement input = card.findElement(By.className("perm-input-text"));
        assertFalse(input.isDisplayed());
        card.findElement(By.cssSelector(".perm-input summary")).click();
        awaitUi().until(input::isDisplayed);
        assertTrue(input.getText().contains("\"command\": \"touch " + marker + "\""), input.getText());
        browser.js("arguments[0].scrollIntoView({block: 'center'});", card);
        browser.screenshot(repoRoot().resolve("docs/img/dashboard-permission.png"));
        awaitUi().until(() -> List.of(bot + " asks: Bash").equals(browser.js("return window.__notes")));
        awaitUi().until(() -> "1 waiting".equals(badge(bot)));
        awaitUi().until(() -> "waiting_approval".equals(stateShown()));
        assertEquals("waiting_approval", botItem(bot).getAttribute("data-state"));
        assertEquals(bot + " is waiting for your approval (1 request in the chat)…",
                browser.driver.findElement(By.id("working-text")).getText());
        assertFalse(Files.exists(marker), "nothing runs before someone allows it");

        // A reload of the page shows the request again, from GET /api/bot/{id}/permissions.
        browser.driver.navigate().refresh();
        awaitConnected();
        select(bot);
        card = awaitCard(bot, "pending");
        awaitUi().until(() -> "1 waiting".equals(badge(bot)));

        card.findElement(By.cssSelector("button[data-decision='allow']")).click();
        WebElement done = awaitCard(bot, "allow");
        awaitUi().until(() -> done.findElement(By.className("perm-status")).getText().startsWith("Allowed by a person"));
        assertFalse(done.findElement(By.className("perm-form")).isDisplayed(), "no buttons once answered");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> lastReply(bot).startsWith("Ran it"));
        assertTrue(Files.exists(marker), "the command ran once allowed");
        awaitUi().until(() -> badge(bot).isEmpty());
        awaitUi().until(() -> "idle".equals(stateShown()));
        // Answered once: a second answer is refused.
        String id = done.getAttribute("data-request-id");
        assertEquals(409, serve.post("/api/bot/" + bot + "/permissions/" + id, "{\"decision\":\"deny\"}").statusCode());
    }

    @Test
    void denyWithAReasonLeavesNoEffectAndTheCardSaysDenied() throws Exception {
        String bot = "ASK-DENY";
        Path marker = tmp.resolve("denied.txt");
        launch(bot);
        say(bot, "RUN_BASH touch " + marker);
        WebElement card = awaitCard(bot, "pending");
        card.findElement(By.className("perm-reason")).sendKeys("not on this machine");
        card.findElement(By.cssSelector("button[data-decision='deny']")).click();
        WebElement done = awaitCard(bot, "deny");
        awaitUi().until(() -> done.findElement(By.className("perm-status")).getText()
                .matches("Denied by a person( at .*)?: not on this machine"));
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> lastReply(bot).startsWith("Tool refused"));
        assertTrue(lastReply(bot).contains("not on this machine"), "the agent saw the reason: " + lastReply(bot));
        assertFalse(Files.exists(marker), "a denied command does not run");
        awaitUi().until(() -> badge(bot).isEmpty());
        // The bot's history records the decision.
        JsonNode history = JSON.readTree(serve.get("/api/bot/" + bot + "/history", true).body());
        assertTrue(history.toString().contains("deny by user: not on this machine"), history.toString());
    }

    @Test
    void anAnswerThatComesSecondIsSaidPlainlyAndTheFirstOneCounts() throws Exception {
        String bot = "ASK-RACE";
        Path marker = tmp.resolve("raced.txt");
        launch(bot);
        // This page misses the resolved event (as if it arrived while the click was on its way), so
        // its Deny reaches the controller after another client's Allow.
        Object script = browser.driver.executeCdpCommand("Page.addScriptToEvaluateOnNewDocument", Map.of("source", """
                const Real = window.WebSocket;
                window.WebSocket = class extends Real {
                  addEventListener(type, listener, options) {
                    const wrapped = type !== 'message' ? listener : (ev) => {
                      if (!(window.__dropResolved && ev.data.includes('"permission_resolved"'))) listener(ev);
                    };
                    super.addEventListener(type, wrapped, options);
                  }
                };""")).get("identifier");
        try {
            browser.driver.navigate().refresh();
            awaitConnected();
            select(bot);
            browser.js("window.__dropResolved = true;");
            say(bot, "RUN_BASH touch " + marker);
            WebElement card = awaitCard(bot, "pending");
            String id = card.getAttribute("data-request-id");
            HttpResponse<String> first = serve.post("/api/bot/" + bot + "/permissions/" + id, "{\"decision\":\"allow\"}");
            assertEquals(200, first.statusCode(), first.body());
            allowedConsole = m -> m.contains("/permissions/" + id) && m.contains("409");
            card.findElement(By.cssSelector("button[data-decision='deny']")).click();
            WebElement lost = awaitCard(bot, "answered-elsewhere");
            awaitUi().until(() -> lost.findElement(By.className("perm-status")).getText()
                    .startsWith("Already answered elsewhere"));
            assertFalse(lost.findElement(By.className("perm-form")).isDisplayed());
            await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .until(() -> lastReply(bot).startsWith("Ran it"));
            assertTrue(Files.exists(marker), "the first answer, allow, is the one that counted");
            awaitUi().until(() -> badge(bot).isEmpty());
            assertTrue(browser.consoleErrors(m -> false).stream().anyMatch(m -> m.contains("409")),
                    "the page did send its late answer");
        } finally {
            browser.driver.executeCdpCommand("Page.removeScriptToEvaluateOnNewDocument", Map.of("identifier", script));
            browser.driver.navigate().refresh();
            awaitConnected();
        }
    }

    @Test
    void aRequestNobodyAnswersIsDeniedByTheTimeoutAndTheCardSaysSo() throws Exception {
        String bot = "ASK-LATE";
        Path marker = tmp.resolve("late.txt");
        launch(bot, "claude-quick");
        say(bot, "RUN_BASH touch " + marker);
        WebElement card = awaitCard(bot, "pending");
        awaitUi().until(() -> card.findElement(By.className("perm-expires")).getText().matches("Denied in [0-4] s .*"));
        WebElement done = awaitCard(bot, "deny");
        assertEquals("timeout", done.getAttribute("data-by"));
        awaitUi().until(() -> done.findElement(By.className("perm-status")).getText()
                .startsWith("Denied because nobody answered in time"));
        assertFalse(done.findElement(By.className("perm-form")).isDisplayed(), "no buttons once it timed out");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> lastReply(bot).startsWith("Tool refused"));
        assertFalse(Files.exists(marker), "nothing runs on a timeout");
        awaitUi().until(() -> badge(bot).isEmpty());
    }

    // ---- page helpers -------------------------------------------------------------------------------

    private void awaitConnected() {
        awaitUi().until(() -> "connected".equals(browser.driver.findElement(By.id("conn")).getAttribute("data-state")));
    }

    /** Launches the bot over the API (the launch form has its own tests) and selects it in the list. */
    private void launch(String bot) throws Exception {
        launch(bot, "claude");
    }

    private void launch(String bot, String profile) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"" + profile + "\"}");
        assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.body());
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> "idle".equals(botItem(bot).getAttribute("data-state")));
        select(bot);
    }

    private void select(String bot) {
        awaitUi().until(() -> {
            botItem(bot).click();
            return bot.equals(browser.driver.findElement(By.id("bot-title")).getText());
        });
    }

    /** The selected bot's state as the page wrote it (the badge shows it in capitals). */
    private String stateShown() {
        return browser.driver.findElement(By.id("bot-state")).getAttribute("textContent");
    }

    private WebElement botItem(String bot) {
        return browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + bot + "']"));
    }

    private String badge(String bot) {
        List<WebElement> b = botItem(bot).findElements(By.className("perm-badge"));
        return b.isEmpty() || !b.get(0).isDisplayed() ? "" : b.get(0).getText();
    }

    private void say(String bot, String text) {
        WebElement input = browser.driver.findElement(By.id("chat-input"));
        input.sendKeys(text);
        input.sendKeys(Keys.ENTER);
    }

    private By log(String bot) {
        return By.cssSelector(".chat-log[data-bot-id='" + bot + "']");
    }

    /** The bot's one permission card, once it shows the given state. */
    private WebElement awaitCard(String bot, String state) {
        By card = By.cssSelector(".chat-log[data-bot-id='" + bot + "'] .perm-card[data-state='" + state + "']");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .until(() -> browser.driver.findElement(card).isDisplayed());
        assertEquals(1, browser.driver.findElement(log(bot)).findElements(By.className("perm-card")).size());
        return browser.driver.findElement(card);
    }

    private String lastReply(String bot) {
        List<WebElement> replies = browser.driver.findElement(log(bot)).findElements(By.cssSelector(".msg-assistant .msg-text"));
        return replies.isEmpty() ? "" : replies.get(replies.size() - 1).getText();
    }

    private static Path repoRoot() {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("deia-server-example")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("repository root not found above " + System.getProperty("user.dir"));
    }

    /** Records the title of every browser notification the page shows from now on (until a reload). */
    private void recordNotifications() {
        browser.js("""
                const Real = window.Notification;
                window.__notes = [];
                window.Notification = class extends Real {
                  constructor(title, options) { super(title, options); window.__notes.push(title); }
                };""");
    }
}
