package io.deia.server.dashboard;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.awaitility.core.ConditionFactory;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.Select;

/**
 * The parts of the dashboard a project test works with, found and used as a user would: a bot in
 * the list, the launch dialog, a task's review block (branch, changes, Diff / Merge / Discard /
 * Restore) and the page's own POSTs.
 */
final class ReviewPage {
    private final Browser browser;

    ReviewPage(Browser browser) {
        this.browser = browser;
    }


    /** Every text in the block (diff lines, notes, refusals, buttons) at least 4.5:1 against what is behind it (WCAG 2.2 AA). */
    @SuppressWarnings("unchecked")
    void assertReadable(WebElement block) {
        List<String> low = (List<String>) browser.js(DashboardFixesBrowserTest.CONTRAST_JS
                + "const out = []; let n = 0; for (const e of arguments[0].querySelectorAll('*')) {"
                + "  if (!e.getClientRects().length || ![...e.childNodes].some(c => c.nodeType === 3 && c.textContent.trim())) continue;"
                + "  n++; const r = ratio(e); if (r < 4.5) out.push(e.className + ' ' + r.toFixed(2)); }"
                + "if (n < 3) out.push('only ' + n + ' texts checked'); return out;", block);
        assertTrue(low.isEmpty(), "text under 4.5:1: " + low);
    }

    /** Waits for the task's response with its review block (the task ran on the project and ended). */
    WebElement awaitReview(String taskId) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> review(taskId).isDisplayed());
        return review(taskId);
    }

    WebElement review(String taskId) {
        return browser.driver.findElement(By.cssSelector("#task-responses li.response[data-task-id='" + taskId + "'] .task-review"));
    }

    void click(String taskId, String action) {
        awaitUi().until(() -> {
            WebElement b = review(taskId).findElement(By.cssSelector("[data-action='" + action + "']"));
            if (!b.isEnabled()) {
                return false;
            }
            browser.js("arguments[0].scrollIntoView({block: 'center'});", b);
            b.click();
            return true;
        });
    }

    WebElement botItem(String botId) {
        return browser.driver.findElement(By.cssSelector(".bot-item[data-bot-id='" + botId + "']"));
    }

    void selectBot(String botId) {
        awaitUi().until(() -> {
            botItem(botId).click();
            return botId.equals(browser.driver.findElement(By.id("bot-title")).getText());
        });
    }

    void openLaunchDialog() {
        browser.driver.findElement(By.id("launch-open")).click();
        awaitUi().until(() -> dialogOpen("launch-dialog"));
        awaitUi().until(() -> !new Select(browser.driver.findElement(By.id("launch-profile"))).getOptions().isEmpty());
    }

    boolean dialogOpen(String id) {
        return Boolean.TRUE.equals(browser.js("return document.getElementById(arguments[0]).open", id));
    }

    /** Records the page's POSTs from now on (content type and body): every one must be JSON. */
    void recordPosts() {
        browser.js("window.__posts = []; if (!window.__fetch) { window.__fetch = window.fetch;"
                + " window.fetch = (url, opts) => { if (opts && opts.method === 'POST') window.__posts.push({url: String(url),"
                + "  type: (opts.headers && opts.headers['Content-Type']) || 'none', body: opts.body === undefined ? null : String(opts.body)});"
                + "  return window.__fetch(url, opts); }; }");
    }

    @SuppressWarnings("unchecked")
    List<String> recordedBodies() {
        return (List<String>) browser.js("return window.__posts.map(p => p.body)");
    }

    @SuppressWarnings("unchecked")
    void assertPostsWereJson() {
        List<String> types = (List<String>) browser.js("return window.__posts.map(p => p.type)");
        assertFalse(types.isEmpty(), "no POST was made");
        assertTrue(types.stream().allMatch("application/json"::equals), "POST content types: " + types);
    }

    static ConditionFactory awaitUi() {
        return await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).ignoreExceptions();
    }
}
