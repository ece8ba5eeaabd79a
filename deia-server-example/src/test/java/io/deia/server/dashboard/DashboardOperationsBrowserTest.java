package io.deia.server.dashboard;

import static io.deia.server.dashboard.ReviewPage.awaitUi;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/**
 * Running a hive unattended, as the dashboard shows it (issue 24), in a real headless Chromium
 * against a real {@code serve} and real bot runners: a hive limited to one agent turn at a time with
 * three {@code command} bots whose turns last until the test lets them end, so the second and third wait in line ("queued #1",
 * "queued #2") and move up when the first turn ends; spend per bot and for the hive from ledger lines
 * a previous run left (one turn of unknown cost among them, never shown as $0); the hive's budget bar
 * and one bar per profile with a budget (none for the profile without); and the webhook indicator
 * with a dead delivery left by an earlier dispatcher, its details in the dialog.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardOperationsBrowserTest {
    private static final String FIRST = "OPS-A";
    private static final String SECOND = "OPS-B";
    private static final String THIRD = "OPS-C";
    private static final List<String> BOTS = List.of(FIRST, SECOND, THIRD);

    @TempDir
    static Path tmp;

    private Path hive;
    /** The first bot's turn ends when this file exists. */
    private Path release;
    /** Every other turn ends when this one exists (at the end, so the bots stop at once). */
    private Path releaseAll;
    private ServeProcess serve;
    private Browser browser;

    @BeforeAll
    void startServerAndBrowser() throws Exception {
        hive = tmp.resolve("hive");
        release = tmp.resolve("release-first-turn");
        releaseAll = tmp.resolve("release-all-turns");
        Instant now = Instant.now();
        // What an earlier run left in the ledger: OPS-A spent $1.50 today and $2.00 three days ago,
        // OPS-B had one turn nobody priced, a bot of the "thrifty" profile (gone since) spent $0.75.
        writeLedger(FIRST, turn(FIRST, "slow", now, "1.5"), turn(FIRST, "slow", now.minus(3, ChronoUnit.DAYS), "2.0"));
        writeLedger(SECOND, turn(SECOND, "slow", now, null));
        writeLedger("OLD-T", turn("OLD-T", "thrifty", now.minus(2, ChronoUnit.DAYS), "0.75"));
        // And a delivery its webhook dispatcher gave up on, as the dispatcher records it.
        Path dead = hive.resolve("hive/webhooks/dead");
        Files.createDirectories(dead);
        long millis = now.minus(1, ChronoUnit.DAYS).toEpochMilli();
        Files.writeString(dead.resolve(millis + "-evt_dead1--k1a2b3.json"), """
                {"delivery": {"id": "evt_dead1", "type": "bot.failed", "bot_id": "OPS-A",
                              "url": "https://hooks.example.com:8443/deia/secret-path", "attempts": 31,
                              "last_error": "HTTP 503", "first_at": "%s", "dead_at": "%s"},
                 "event": {"id": "evt_dead1", "type": "bot.failed", "at": "%s", "bot_id": "OPS-A", "reason": "exit 1"}}
                """.formatted(Instant.ofEpochMilli(millis), now.minusSeconds(60), Instant.ofEpochMilli(millis)),
                StandardCharsets.UTF_8);

        // One turn at a time in the whole hive; a turn asked to go "first" lasts until the test
        // releases it (the others are in line by then), any other until the test ends.
        Path config = tmp.resolve("deia.json");
        Files.writeString(config, """
                {"ports": {"from": 18650, "to": 18699},
                 "max_concurrent_turns": 1,
                 "budget": {"usd_per_day": 10},
                 "profiles": {
                   "slow": {"agent": "command", "executable": "/bin/sh",
                            "args": ["-c", "p=$(cat); case \\"$p\\" in *first*) until [ -e %s ]; do sleep 0.2; done;; *) until [ -e %s ]; do sleep 0.2; done;; esac; echo done"],
                            "budget": {"usd_per_day": 5}},
                   "thrifty": {"agent": "command", "executable": "/bin/cat", "budget": {"usd_total": 1}},
                   "plain": {"agent": "command", "executable": "/bin/cat"}}}
                """.formatted(release, releaseAll), StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, config, tmp.resolve("serve.log"));
        serve.start();
        for (String bot : BOTS) {
            HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"slow\"}");
            assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.body());
        }
        browser = new Browser(tmp.resolve("chromium-profile"));
        browser.driver.get(serve.dashboardUrl());
        awaitUi().until(() -> "connected".equals(browser.driver.findElement(By.id("conn")).getAttribute("data-state")));
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> BOTS.stream().allMatch(b -> "idle".equals(botItem(b).getAttribute("data-state"))));
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (browser != null) {
                // Leave the page first, so its WebSocket closes before the browser and the controller go.
                browser.driver.get("about:blank");
                browser.close();
            }
        } finally {
            if (serve != null) {
                Files.writeString(releaseAll, "go", StandardCharsets.UTF_8);
                serve.stopBots(BOTS);
                serve.close();
            }
        }
    }

    @Test
    void spendBudgetsWebhooksAndPlacesInLineAreWhatAPersonSees() throws Exception {
        // Spend per bot: today / in all; a bot with only unpriced turns says so instead of $0.
        awaitUi().until(() -> meta(FIRST).endsWith("$1.50 / $3.50"));
        awaitUi().until(() -> meta(SECOND).endsWith("cost unknown (1 turn)"));
        select(FIRST);
        awaitUi().until(() -> "$1.50 today, $3.50 in all".equals(text("fact-cost")));

        // The hive: its totals, and its budget bar filled by today's spend against usd_per_day.
        awaitUi().until(() -> "Hive: $1.50 today, $4.25 in all (+1 turn of unknown cost)".equals(text("hive-spend-text")));
        WebElement hiveBudget = browser.driver.findElement(By.id("hive-budget"));
        assertTrue(hiveBudget.isDisplayed());
        assertEquals("15", hiveBudget.getAttribute("data-used"));
        assertEquals("0.15", browser.driver.findElement(By.id("hive-budget-bar")).getAttribute("value"));
        assertEquals("Budget: $1.50 of $10.00 today", text("hive-budget-text"));

        // A bar per profile with a budget, none for the profile without one.
        List<WebElement> rows = browser.driver.findElements(By.cssSelector("#profile-budgets .profile-budget"));
        assertEquals(List.of("slow", "thrifty"), rows.stream().map(r -> r.getAttribute("data-profile")).collect(Collectors.toList()));
        assertEquals("30", rows.get(0).getAttribute("data-used"));
        assertEquals("slow: $1.50 of $5.00 today", rows.get(0).getText());
        assertEquals("75", rows.get(1).getAttribute("data-used"));
        assertEquals("thrifty: $0.7500 of $1.00 in all", rows.get(1).getText());
        assertTrue(browser.driver.findElements(By.cssSelector(".profile-budget[data-profile='plain']")).isEmpty());

        // Webhooks: the indicator names the dead delivery; its dialog lists it, the receiver by host only.
        WebElement hooks = browser.driver.findElement(By.id("hooks"));
        awaitUi().until(() -> hooks.isDisplayed() && "Webhooks: 1 dead".equals(hooks.getText()));
        assertEquals("dead", hooks.getAttribute("data-state"));
        hooks.click();
        WebElement row = awaitUi().until(() -> browser.driver.findElement(By.cssSelector("#hooks-dead tr.hook-dead")), r -> r.isDisplayed());
        List<String> cells = row.findElements(By.tagName("td")).stream().map(WebElement::getText).collect(Collectors.toList());
        assertEquals(List.of("bot.failed", FIRST, "hooks.example.com:8443", "31", "HTTP 503"), cells.subList(0, 5));
        assertFalse(cells.get(5).isEmpty(), "when it died: " + cells);
        assertFalse(row.getText().contains("secret-path"), "the receiver's path stays out of sight: " + row.getText());
        browser.driver.findElement(By.id("hooks-close")).click();
        awaitUi().until(() -> !browser.driver.findElement(By.id("hooks-dialog")).isDisplayed());

        // One turn at a time: the first bot's short turn runs, the others wait in line in order.
        submitTask(FIRST, "first, short");
        awaitUi().until(() -> "busy".equals(botItem(FIRST).getAttribute("data-state")));
        submitTask(SECOND, "second, long");
        awaitUi().until(() -> "queued #1".equals(stateLabel(SECOND)));
        submitTask(THIRD, "third, long");
        awaitUi().until(() -> "queued #2".equals(stateLabel(THIRD)));
        select(THIRD);
        awaitUi().until(() -> "queued #2".equals(badge()));
        assertEquals("queued", botItem(THIRD).getAttribute("data-state"));

        Files.writeString(release, "go", StandardCharsets.UTF_8);
        // The first turn ends: the second bot gets the slot, the third moves up, in the list and the detail.
        awaitUi().until(() -> "busy".equals(botItem(SECOND).getAttribute("data-state")));
        awaitUi().until(() -> "queued #1".equals(stateLabel(THIRD)) && "queued #1".equals(badge()));
        assertEquals("idle", botItem(FIRST).getAttribute("data-state"));
        browser.screenshot(repoRoot().resolve("docs/img/dashboard-operations.png"));

        List<String> errors = browser.consoleErrors(m -> false);
        assertTrue(errors.isEmpty(), "browser console errors: " + errors);
    }

    // ---- fixtures -----------------------------------------------------------------------------------

    /** A ledger turn line as a bot runner writes it; {@code cost} null for a turn nobody priced. */
    private static String turn(String bot, String profile, Instant at, String cost) {
        return "{\"kind\":\"turn\",\"at\":\"" + at + "\",\"bot_id\":\"" + bot + "\",\"profile\":\"" + profile
                + "\",\"source\":\"chat\",\"status\":\"completed\",\"duration_ms\":1200,\"cost_usd\":" + cost
                + ",\"cost_known\":" + (cost != null) + ",\"input_tokens\":" + (cost != null ? "1000" : "null")
                + ",\"output_tokens\":" + (cost != null ? "200" : "null") + "}";
    }

    private void writeLedger(String bot, String... lines) throws Exception {
        Path ledger = hive.resolve("hive/ledger");
        Files.createDirectories(ledger);
        Files.writeString(ledger.resolve(bot + ".jsonl"), String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
    }

    private void submitTask(String bot, String text) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/" + bot + "/tasks",
                "{\"task\":\"" + text + "\"}");
        assertEquals(201, r.statusCode(), r.body());
    }

    // ---- page helpers -------------------------------------------------------------------------------

    private WebElement botItem(String bot) {
        return browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + bot + "']"));
    }

    private String meta(String bot) {
        return botItem(bot).findElement(By.className("bot-meta")).getAttribute("textContent");
    }

    private String stateLabel(String bot) {
        return botItem(bot).findElement(By.className("bot-state-label")).getAttribute("textContent");
    }

    /** The selected bot's state badge as the page wrote it (CSS may show it in capitals). */
    private String badge() {
        return browser.driver.findElement(By.id("bot-state")).getAttribute("textContent");
    }

    private String text(String id) {
        return browser.driver.findElement(By.id(id)).getAttribute("textContent");
    }

    private void select(String bot) {
        awaitUi().until(() -> {
            botItem(bot).click();
            return bot.equals(browser.driver.findElement(By.id("bot-title")).getText());
        });
    }

    private static Path repoRoot() {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("deia-server-example")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("repository root not found above " + System.getProperty("user.dir"));
    }
}
