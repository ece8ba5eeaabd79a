package io.deia.server.dashboard;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.logging.Level;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;

/**
 * Debian's headless Chromium driven through Debian's chromedriver: no browser or driver download.
 * Fails (never skips) when either is missing, because the test command installs both.
 */
final class Browser implements AutoCloseable {
    static final String CHROMIUM = "/usr/bin/chromium";
    static final String CHROMEDRIVER = "/usr/bin/chromedriver";

    final ChromeDriver driver;
    private final ChromeDriverService service;
    /** Every browser console entry seen so far, in order; read once from the driver, kept here. */
    private final List<LogEntry> console = new ArrayList<>();

    Browser(Path userDataDir) {
        for (String exe : List.of(CHROMIUM, CHROMEDRIVER)) {
            if (!Files.isExecutable(Path.of(exe))) {
                fail(exe + " is missing: the browser tests need Debian's chromium and chromium-driver "
                        + "(scripts/test.sh installs them: apt-get install -y chromium chromium-driver)");
            }
        }
        service = new ChromeDriverService.Builder().usingDriverExecutable(new File(CHROMEDRIVER))
                .usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,800", "--user-data-dir=" + userDataDir);
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        driver = new ChromeDriver(service, options);
    }

    /** Console entries at SEVERE (console.error, failed loads, CSP violations, uncaught errors) not matching {@code allowed}. */
    List<String> consoleErrors(Predicate<String> allowed) {
        console.addAll(driver.manage().logs().get(LogType.BROWSER).getAll());
        List<String> errors = new ArrayList<>();
        for (LogEntry e : console) {
            if (e.getLevel().intValue() >= Level.SEVERE.intValue() && !allowed.test(e.getMessage())) {
                errors.add(e.getMessage());
            }
        }
        return errors;
    }

    /** Forgets the console entries read so far (after they were checked). */
    void clearConsole() {
        driver.manage().logs().get(LogType.BROWSER);
        console.clear();
    }

    /** Exact viewport size through the DevTools protocol, so screenshots are the stated width and height. */
    void viewport(int width, int height, boolean mobile) {
        driver.executeCdpCommand("Emulation.setDeviceMetricsOverride", Map.of(
                "width", width, "height", height, "deviceScaleFactor", 1, "mobile", mobile));
    }

    void screenshot(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        Files.write(file, driver.getScreenshotAs(OutputType.BYTES));
    }

    Object js(String script, Object... args) {
        return driver.executeScript(script, args);
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            service.stop();
        }
    }
}
