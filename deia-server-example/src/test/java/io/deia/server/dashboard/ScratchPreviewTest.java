package io.deia.server.dashboard;

import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.Select;

class ScratchPreviewTest {
    @TempDir Path tmp;
    @Test
    void run() throws Exception {
        try (Browser b = new Browser(tmp.resolve("ud"))) {
            b.driver.get("http://127.0.0.1:18777/");
            await().atMost(Duration.ofSeconds(10)).until(() -> "connected".equals(b.driver.findElement(By.id("conn")).getAttribute("data-state")));
            b.driver.findElement(By.id("launch-open")).click();
            Thread.sleep(500);
            WebElement id = b.driver.findElement(By.id("launch-id"));
            id.clear(); id.sendKeys("bad id!");
            System.out.println("HINT " + b.driver.findElement(By.id("launch-id-hint")).getText() + " enabled=" + b.driver.findElement(By.id("launch-submit")).isEnabled());
            id.clear(); id.sendKeys("BOT-009");
            new Select(b.driver.findElement(By.id("launch-profile"))).selectByValue("upper");
            b.driver.findElement(By.id("launch-submit")).click();
            Thread.sleep(600);
            System.out.println("PROGRESS " + b.driver.findElement(By.id("launch-progress")).getText());
            await().atMost(Duration.ofSeconds(10)).until(() -> Boolean.FALSE.equals(b.js("return document.getElementById('launch-dialog').open")));
            System.out.println("TITLE " + b.driver.findElement(By.id("bot-title")).getText());
            WebElement in = b.driver.findElement(By.id("chat-input"));
            in.sendKeys("<img src=x onerror=alert(1)> hi <script>window.__pwned=1</script>"); in.sendKeys(Keys.ENTER);
            Thread.sleep(300);
            System.out.println("MID " + b.driver.findElement(By.id("chat-logs")).getText() + " working=" + b.driver.findElement(By.id("working")).isDisplayed());
            Thread.sleep(2500);
            System.out.println("END " + b.driver.findElement(By.id("chat-logs")).getText());
            System.out.println("PWNED " + b.js("return typeof window.__pwned"));
            b.driver.findElement(By.id("task-text")).sendKeys("do it");
            b.driver.findElement(By.id("task-submit")).click();
            Thread.sleep(1500);
            System.out.println("TASKS " + b.driver.findElement(By.id("task-responses")).getText() + " / " + b.driver.findElement(By.id("task-msg")).getText());
            b.driver.findElement(By.id("stop-btn")).click(); Thread.sleep(300);
            b.driver.findElement(By.id("stop-confirm")).click(); Thread.sleep(2500);
            System.out.println("STATE " + b.driver.findElement(By.cssSelector(".bot-item[data-bot-id='BOT-009']")).getAttribute("data-state"));
            b.viewport(390, 844, true);
            b.screenshot(tmp.resolve("x.png")); java.nio.file.Files.copy(tmp.resolve("x.png"), Path.of("/tmp/dash-preview/sel-phone.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            System.out.println("CONSOLE " + b.consoleErrors(m -> false));
        }
    }
}
