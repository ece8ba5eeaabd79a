package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The attack matrix against a real {@code serve} JVM with one real bot: every {@code /api} route
 * and {@code /ws} without or with a wrong token, foreign Origin, huge bodies, slow-loris headers,
 * invalid UTF-8, deep JSON, path traversal, header injection. After every group: the registry's
 * bytes are unchanged, no process was started, no file appeared outside the hive's inboxes.
 */
class HttpAttackTest {
    private static final Logger log = LoggerFactory.getLogger(HttpAttackTest.class);
    /** The controller's HTTP idle timeout in this test: longer than dribbling the stalled connections and the matrix take. */
    private static final int LORIS_IDLE_S = 15;
    private static final String BOT = "BOT-A1";
    /** A bot running the demo agent, which writes a file when told to: the target of the bot-port attacks. */
    private static final String WRITER = "BOT-W1";
    /** The message: what a web page had a bot write. */
    private static final String PWN = "{\"text\":\"write pwned.txt: owned by a web page\"}";
    /** Every endpoint of a bot port but /health, as method and path. */
    private static final List<String[]> BOT_ROUTES = List.of(
            new String[]{"GET", "/status"}, new String[]{"POST", "/message"}, new String[]{"POST", "/interrupt"},
            new String[]{"POST", "/pause"}, new String[]{"POST", "/resume"}, new String[]{"POST", "/stop"},
            new String[]{"GET", "/events"}, new String[]{"GET", "/permissions"},
            new String[]{"POST", "/permissions/perm-000000000000000000000000"});

    /** Every route of the controller API, as method and path (the bot id is a real, running bot). */
    private static final List<String[]> ROUTES = List.of(
            new String[]{"GET", "/api/bots"}, new String[]{"GET", "/api/profiles"},
            new String[]{"POST", "/api/bot/launch"}, new String[]{"POST", "/api/bot/" + BOT + "/stop"},
            new String[]{"GET", "/api/bot/" + BOT + "/status"}, new String[]{"POST", "/api/bot/" + BOT + "/message"},
            new String[]{"POST", "/api/bot/" + BOT + "/interrupt"}, new String[]{"GET", "/api/bot/" + BOT + "/tasks"},
            new String[]{"POST", "/api/bot/" + BOT + "/tasks"}, new String[]{"GET", "/api/bot/" + BOT + "/history"},
            new String[]{"GET", "/api/bot/" + BOT + "/permissions"},
            new String[]{"POST", "/api/bot/" + BOT + "/permissions/perm-000000000000000000000000"},
            new String[]{"GET", "/ws"});

    @TempDir
    Path dir;

    private ServeProcess serve;
    private HiveLayout hive;
    private int port;
    private int inputs;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, List.of(BOT, WRITER), dir);
    }

    @Test
    void everyAttackIsRefusedAndChangesNothing() throws Exception {
        hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        int portBase = 25000 + new Random().nextInt(40) * 100;
        // "demo" is the offline demo agent, which writes a file on "write NAME: TEXT": what the issue's
        // web page made a bot do.
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 99),
                "profiles", Map.of("cat", Map.of("agent", "command", "executable", "/bin/cat", "start_timeout_s", 60),
                        "demo", Map.of("agent", "command", "executable", java, "start_timeout_s", 60,
                                "args", List.of("-Xmx32m", "-cp", System.getProperty("java.class.path"),
                                        "io.deia.server.demo.DemoAgent"))))));
        // A short HTTP idle timeout (60 s by default): the wait for the stalled connections to be dropped is short.
        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log"), "--http-idle-timeout", "" + LORIS_IDLE_S);
        serve.start();
        port = Integer.parseInt(serve.baseUrl().substring(serve.baseUrl().lastIndexOf(':') + 1));
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"cat\"}");
        assertEquals(201, launched.statusCode(), launched.body());
        HttpResponse<String> writer = serve.post("/api/bot/launch", "{\"bot_id\":\"" + WRITER + "\",\"profile\":\"demo\"}");
        assertEquals(201, writer.statusCode(), writer.body());

        // Slow-loris: connections that dribble a request's headers, opened first and held through the whole matrix.
        List<Socket> loris = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            Socket s = new Socket("127.0.0.1", port);
            s.setSoTimeout(1000);
            loris.add(s);
        }
        byte[] partial = ("GET /api/bots HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").getBytes(StandardCharsets.ISO_8859_1);
        for (byte b : partial) {
            for (Socket s : loris) {
                s.getOutputStream().write(b);
                s.getOutputStream().flush();
            }
            Thread.sleep(20); // dribbling is the attack itself, not a wait for something
        }
        inputs += loris.size();

        State before = state();

        // 1. No token, wrong bearer token, wrong cookie: 401 on every route.
        for (String[] r : ROUTES) {
            for (String auth : List.of("", "Authorization: Bearer wrong-" + serve.token() + "\r\n",
                    "Authorization: Bearer \r\n", "Authorization: Basic " + serve.token() + "\r\n",
                    "Cookie: deia_token=" + serve.token().substring(1) + "\r\n")) {
                RawHttp.Answer a = send(r[0], r[1], auth, r[0].equals("POST") ? "{\"bot_id\":\"X\",\"text\":\"x\"}" : null);
                assertEquals(401, a.status(), r[0] + " " + r[1] + " with [" + auth.strip() + "]: " + a.head());
            }
        }
        before.assertUnchanged("after token attacks");

        // 2. Foreign Origin on /ws (with a valid token and a proper upgrade request): 403.
        for (String origin : List.of("http://evil.example", "http://127.0.0.1:" + (port + 1), "null",
                "http://127.0.0.1:" + port + ".evil.example", "https://127.0.0.1:" + port)) {
            RawHttp.Answer a = RawHttp.exchange(port, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n"
                    + "Authorization: Bearer " + serve.token() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: " + origin + "\r\n", null);
            inputs++;
            assertEquals(403, a.status(), "origin " + origin + ": " + a.head());
        }
        before.assertUnchanged("after origin attacks");

        // 3. Huge bodies: declared, actual (chunked, no length), and a chat text over the message limit.
        byte[] huge = new byte[3 * 1024 * 1024];
        Arrays.fill(huge, (byte) 'a');
        for (String path : List.of("/api/bot/launch", "/api/bot/" + BOT + "/message", "/api/bot/" + BOT + "/tasks")) {
            RawHttp.Answer declared = RawHttp.exchange(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n" + bearer()
                    + "Content-Type: application/json\r\nContent-Length: " + huge.length + "\r\n", huge);
            assertEquals(413, declared.status(), path + ": " + declared.head());
            byte[] chunked = chunked(huge);
            RawHttp.Answer streamed = RawHttp.exchange(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n" + bearer()
                    + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunked);
            assertEquals(413, streamed.status(), path + " chunked: " + streamed.head());
            inputs += 2;
        }
        String longText = "{\"text\":\"" + "b".repeat(200 * 1024) + "\"}";
        assertEquals(413, send("POST", "/api/bot/" + BOT + "/message", bearer(), longText).status());
        before.assertUnchanged("after huge bodies");

        // 4. Invalid UTF-8 and 5. deeply nested JSON: 400 for every JSON body and for the task body.
        byte[][] badUtf8 = {
                {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'},
                {'{', '"', 'b', 'o', 't', '_', 'i', 'd', '"', ':', '"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"', '}'},
                {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xF8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80, '"', '}'},
                {'-', '-', '-', '\n', (byte) 0xFF, (byte) 0xFE, '\n', '-', '-', '-', '\n', (byte) 0xC0, (byte) 0xAF}};
        String deepArray = "[".repeat(5000) + "]".repeat(5000);
        String deepObject = "{\"text\":" + "{\"a\":".repeat(3000) + "1" + "}".repeat(3000) + "}";
        for (String path : List.of("/api/bot/launch", "/api/bot/" + BOT + "/message", "/api/bot/" + BOT + "/tasks")) {
            for (byte[] body : badUtf8) {
                RawHttp.Answer a = RawHttp.exchange(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n" + bearer()
                        + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n", body);
                assertEquals(400, a.status(), path + " invalid UTF-8: " + a.head() + a.body());
                inputs++;
            }
            if (!path.endsWith("/tasks")) {
                for (String deep : List.of(deepArray, deepObject)) {
                    RawHttp.Answer a = send("POST", path, bearer(), deep);
                    assertEquals(400, a.status(), path + " deep JSON: " + a.head() + a.body());
                }
            }
        }
        before.assertUnchanged("after bad bodies");

        // 6. Path traversal in ids and in task file names: 400 or 404, and never a file outside the inbox.
        List<String> evilIds = List.of("..%2F..%2Fetc", "%2e%2e", "%2E%2E%2F%2E%2E", "..%252F..", "BOT%2FA1", "BOT%5CA1",
                "..", ".", "%00BOT", "BOT-A1%00", "a%0d%0aSet-Cookie:x", "..%c0%af..", "%252e%252e", "" + "x".repeat(65),
                "-BOT", "BOT..", "..;", "BOT%20A1");
        for (String id : evilIds) {
            for (String[] r : ROUTES) {
                if (!r[1].startsWith("/api/bot/" + BOT)) {
                    continue;
                }
                String path = r[1].replace(BOT, id);
                RawHttp.Answer a = send(r[0], path, bearer(), r[0].equals("POST") ? "{\"text\":\"x\"}" : null);
                assertTrue(a.status() == 400 || a.status() == 404, r[0] + " " + path + ": " + a.head() + a.body());
            }
        }
        for (String raw : List.of("/api/bot/../../etc/passwd", "/api/bot/BOT-A1/../../../x/status", "/api/./bots",
                "/api//bots", "/api/bot/BOT-A1/tasks/../../history", "/api/bot/%2e%2e/%2e%2e/status")) {
            RawHttp.Answer a = send("GET", raw, bearer(), null);
            assertTrue(a.status() == 400 || a.status() == 404, raw + ": " + a.head() + a.body());
        }
        List<String> evilTaskIds = List.of("../../../escaped", "..\\..\\escaped", "/tmp/escaped", "a/../../escaped",
                "%2e%2e%2fescaped", "escaped\u0000x", "CON", ".hidden", "x".repeat(300), "..", "ok/../../escaped");
        int accepted = 0;
        for (String tid : evilTaskIds) {
            RawHttp.Answer a = send("POST", "/api/bot/" + BOT + "/tasks", bearer(), "text/markdown",
                    "---\ntask_id: " + tid + "\n---\nhello\n");
            assertTrue(a.status() == 400 || a.status() == 201 || a.status() == 422, tid + ": " + a.head() + a.body());
            if (a.status() == 201) {
                accepted++;
                String given = Json.read(a.body(), JsonNode.class, "task").path("task_id").asText();
                assertFalse(given.contains("/") || given.contains("\\") || given.contains(".."), "task id " + given);
            }
        }
        assertEquals(List.of(), outsideHive(), "no file escaped the hive");
        before.assertUnchanged("after traversal");

        // 7. Header injection: CR or LF inside a header value is refused; CRLF in the URL is never echoed as a header.
        for (String injected : List.of("X-A: a\rSet-Cookie: evil=1\r\n", "X-A: a\nSet-Cookie: evil=1\r\n",
                "Authorization: Bearer " + serve.token() + "\rX-B: b\r\n", "X-A: a\u0000b\r\n")) {
            RawHttp.Answer a = RawHttp.exchange(port, "GET /api/bots HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n" + injected, null);
            inputs++;
            assertTrue(a.status() == 400 || a.status() == 401, injected + ": " + a.head());
            assertFalse(a.hasHeaderLine("Set-Cookie: evil"), a.head());
        }
        for (String url : List.of("/?token=" + serve.token() + "%0d%0aSet-Cookie:%20evil=1",
                "/api/bots%0d%0aSet-Cookie:%20evil=1", "/?token=x%0aLocation:%20http://evil.example")) {
            RawHttp.Answer a = send("GET", url, bearer(), null);
            assertFalse(a.hasHeaderLine("Set-Cookie: evil") || a.head().contains("evil.example"), url + ": " + a.head());
            assertTrue(a.status() >= 400 && a.status() < 500, url + ": " + a.head());
        }
        before.assertUnchanged("after header injection");

        // 8. The controller from a browser: another page of the same site (any port of 127.0.0.1) gets
        // the SameSite=Strict cookie sent along; its simple requests are refused by Origin, by
        // Content-Type when no Origin comes, by Sec-Fetch-Site; a rebound domain by Host.
        String cookie = "Cookie: deia_token=" + serve.token() + "\r\n";
        for (String origin : List.of("http://127.0.0.1:9999", "http://localhost:" + (port + 1), "http://evil.example", "null")) {
            for (String[] r : ROUTES) {
                if (r[0].equals("POST")) {
                    RawHttp.Answer a = send("POST", r[1], cookie + "Origin: " + origin + "\r\n", "text/plain;charset=UTF-8",
                            "{\"bot_id\":\"BOT-EVIL\",\"profile\":\"cat\",\"text\":\"x\"}");
                    assertEquals(403, a.status(), r[1] + " from " + origin + ": " + a.head() + a.body());
                }
            }
        }
        for (String type : List.of("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x")) {
            for (String path : List.of("/api/bot/launch", "/api/bot/" + BOT + "/message", "/api/bot/" + BOT + "/tasks")) {
                RawHttp.Answer a = send("POST", path, cookie, type, "{\"bot_id\":\"BOT-EVIL\",\"profile\":\"cat\",\"text\":\"x\"}");
                assertEquals(415, a.status(), path + " as " + type + ": " + a.head() + a.body());
            }
        }
        for (String site : List.of("same-site", "cross-site")) {
            RawHttp.Answer a = send("POST", "/api/bot/launch", cookie + "Sec-Fetch-Site: " + site + "\r\n",
                    "{\"bot_id\":\"BOT-EVIL\",\"profile\":\"cat\"}");
            assertEquals(403, a.status(), site + ": " + a.head());
        }
        for (String[] r : ROUTES) {
            RawHttp.Answer a = RawHttp.exchange(port, r[0] + " " + r[1] + " HTTP/1.1\r\nHost: evil.example:" + port + "\r\n"
                    + bearer() + "Content-Length: 0\r\n", null);
            inputs++;
            assertEquals(421, a.status(), r[1] + " with a foreign Host: " + a.head());
        }
        before.assertUnchanged("after browser attacks on the controller");

        // 9. The bot ports themselves (the reproduction first): no token, a wrong one, a page's
        // Origin, a simple content type, a foreign Host — each refused, and the agent never runs.
        for (String botId : List.of(WRITER, BOT)) {
            int botPort = botPort(botId);
            RawHttp.Answer pwn = sendTo(botPort, "POST", "/message", "Origin: http://evil.example\r\n",
                    "text/plain;charset=UTF-8", PWN);
            assertEquals(403, pwn.status(), botId + " /message from a web page: " + pwn.head() + pwn.body());
            RawHttp.Answer stop = sendTo(botPort, "POST", "/stop", "Origin: http://evil.example\r\n", null, null);
            assertEquals(403, stop.status(), botId + " /stop from a web page: " + stop.head() + stop.body());
            for (String[] r : BOT_ROUTES) {
                for (String auth : List.of("", "Authorization: Bearer wrong-" + serve.token() + "\r\n",
                        "Authorization: Bearer " + serve.token().substring(1) + "\r\n", cookie)) {
                    RawHttp.Answer a = sendTo(botPort, r[0], r[1], auth, "application/json", r[0].equals("POST") ? PWN : null);
                    assertEquals(401, a.status(), botId + " " + r[1] + " with [" + auth.strip() + "]: " + a.head());
                    assertTrue(a.body().contains("\"unauthorized\""), a.body());
                }
                String withToken = bearer() + "Origin: http://127.0.0.1:" + port + "\r\n";
                RawHttp.Answer fromDashboard = sendTo(botPort, r[0], r[1], withToken, "application/json",
                        r[0].equals("POST") ? PWN : null);
                assertEquals(403, fromDashboard.status(), botId + " " + r[1] + " even from the dashboard's origin: "
                        + fromDashboard.head());
                RawHttp.Answer rebound = RawHttp.exchange(botPort, r[0] + " " + r[1] + " HTTP/1.1\r\nHost: evil.example\r\n"
                        + bearer() + "Content-Length: 0\r\n", null);
                inputs++;
                assertEquals(421, rebound.status(), botId + " " + r[1] + " with a foreign Host: " + rebound.head());
            }
            for (String type : List.of("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x")) {
                RawHttp.Answer a = sendTo(botPort, "POST", "/message", bearer(), type, PWN);
                assertEquals(415, a.status(), botId + " /message as " + type + ": " + a.head());
            }
            RawHttp.Answer status = sendTo(botPort, "GET", "/status", bearer(), null, null);
            assertEquals(200, status.status(), status.head());
            com.fasterxml.jackson.databind.JsonNode live = Json.read(status.body(), JsonNode.class, "status");
            assertEquals(0, live.path("messages_completed").asInt(), live.toString());
            assertEquals(0, live.path("messages_waiting").asInt(), live.toString());
        }
        assertFalse(Files.exists(hive.workspaceDir(WRITER).resolve("pwned.txt")), "the web page's file was written");
        before.assertUnchanged("after attacks on the bot ports");

        // The slow-loris connections held all along; ordinary clients were served meanwhile (above) and
        // still are; the server drops every stalled connection within its idle timeout.
        assertEquals(200, serve.get("/api/bots", true).statusCode());
        long waitStart = System.nanoTime();
        await("the server closes every slow-loris connection").atMost(Duration.ofSeconds(LORIS_IDLE_S + 30)).pollInterval(Duration.ofMillis(500))
                .until(() -> loris.stream().allMatch(HttpAttackTest::closedOrAnswered));
        long closedAfterS = (System.nanoTime() - waitStart) / 1_000_000_000L;
        loris.forEach(s -> {
            try {
                s.close();
            } catch (IOException e) {
                // already closed by the server
            }
        });
        before.assertUnchanged("at the end");
        log.info("attack matrix: {} inputs tried, {} hostile task ids accepted under a safe id, slow-loris closed after ~{} s more",
                inputs, accepted, closedAfterS);
        // The control: with the token and JSON the same bot does write the file, so the check above can fail.
        RawHttp.Answer control = sendTo(botPort(WRITER), "POST", "/message", bearer(), "application/json",
                "{\"text\":\"write control.txt: asked properly\"}");
        assertEquals(200, control.status(), control.head() + control.body());
        assertEquals("asked properly\n", Files.readString(hive.workspaceDir(WRITER).resolve("control.txt")));
        AtomicFiles.writeString(Path.of("target", "torture-http-attacks.txt"),
                "inputs=" + inputs + " hostile_task_ids_accepted_safely=" + accepted + " slow_loris=" + loris.size() + "\n");
    }

    private static boolean closedOrAnswered(Socket s) {
        try {
            InputStream in = s.getInputStream();
            int b = in.read();
            return true; // -1 (closed) or the first byte of an answer (408/400)
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    /** The port a bot is registered on. */
    private int botPort(String botId) throws IOException {
        int p = Json.read(Files.readString(hive.registryFile()), JsonNode.class, "registry").path("bots").path(botId).path("port").asInt();
        assertTrue(p > 0, botId + " has a port");
        return p;
    }

    private String bearer() {
        return "Authorization: Bearer " + serve.token() + "\r\n";
    }

    private RawHttp.Answer send(String method, String path, String headers, String json) throws IOException {
        return send(method, path, headers, "application/json", json);
    }

    private RawHttp.Answer send(String method, String path, String headers, String contentType, String text)
            throws IOException {
        return sendTo(port, method, path, headers, contentType, text);
    }

    /** A request to {@code 127.0.0.1:<toPort>} (the controller or a bot) with a body of {@code contentType}. */
    private RawHttp.Answer sendTo(int toPort, String method, String path, String headers, String contentType, String text)
            throws IOException {
        inputs++;
        byte[] body = text == null ? null : text.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + toPort + "\r\n" + headers
                + (body == null ? (method.equals("POST") ? "Content-Length: 0\r\n" : "")
                : "Content-Type: " + contentType + "\r\nContent-Length: " + body.length + "\r\n");
        return RawHttp.exchange(toPort, head, body);
    }

    private static byte[] chunked(byte[] data) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int off = 0; off < data.length; off += 32 * 1024) {
            int n = Math.min(32 * 1024, data.length - off);
            out.writeBytes((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(data, off, n);
            out.writeBytes("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        out.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        return out.toByteArray();
    }

    /** Regular files under the test folder that are neither the hive nor this test's own config and logs. */
    private List<Path> outsideHive() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> !p.startsWith(hive.root()) && !p.getFileName().toString().startsWith("serve.log")
                            && !p.getFileName().toString().equals("deia.json"))
                    .toList();
        }
    }

    private State state() throws IOException {
        return new State(registryIdentity(), new TreeSet<>(Torture.processesInto(dir)));
    }

    /**
     * The registry without the fields the running bot itself refreshes (heartbeat time, idle/busy):
     * which bots exist, with which pid, start instant, port, profile and restart count.
     */
    private String registryIdentity() throws IOException {
        com.fasterxml.jackson.databind.JsonNode root = Json.read(Files.readString(hive.registryFile()), JsonNode.class, "registry");
        StringBuilder sb = new StringBuilder();
        root.findParents("bot_id").forEach(r -> {
            for (String f : List.of("bot_id", "pid", "process_start", "port", "profile", "restarts", "registered_at")) {
                sb.append(f).append('=').append(r.path(f).asText()).append(' ');
            }
            sb.append('\n');
        });
        assertFalse(sb.isEmpty(), "registry lists the bot");
        return sb.toString();
    }

    /** What an attack must not change: the registry's bots and the set of processes of this hive. */
    private final class State {
        final String registry;
        final Set<Long> processes;

        State(String registry, Set<Long> processes) {
            this.registry = registry;
            this.processes = processes;
        }

        void assertUnchanged(String when) throws IOException {
            assertEquals(registry, registryIdentity(), "registry " + when);
            // Agent processes of a turn come and go (cat answers tasks); runners and the controller must not.
            // A runner forking an agent shows the runner's own command line for a moment (between fork
            // and exec), so a new process must stay to count: wait until the transient ones are gone.
            org.awaitility.Awaitility.await("processes " + when).atMost(java.time.Duration.ofSeconds(10))
                    .pollInterval(java.time.Duration.ofMillis(100))
                    .untilAsserted(() -> assertEquals(processes, lastingProcesses(), "processes " + when));
        }

        /** This hive's processes now, less agent processes that were not there before. */
        private Set<Long> lastingProcesses() {
            Set<Long> now = new TreeSet<>(Torture.processesInto(dir));
            now.removeIf(pid -> !processes.contains(pid) && !commandLineOf(pid).contains("io.deia.server.Main"));
            return now;
        }
    }

    private static String commandLineOf(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
