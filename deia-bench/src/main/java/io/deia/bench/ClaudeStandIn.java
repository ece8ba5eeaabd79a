package io.deia.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * A scripted stand-in for {@code claude -p --input-format stream-json --output-format stream-json
 * --permission-prompt-tool stdio}, for {@link PermissionBenchmark} only: it times, it does not model.
 *
 * <p>For each user message line on stdin it writes {@code system/init}, then one {@code can_use_tool}
 * {@code control_request} for a {@code Bash} command whose input carries {@code t0_ns}, the
 * {@link System#nanoTime()} taken just before the line is written; it then reads stdin until the
 * {@code control_response} to that request and takes {@code t3_ns} the moment that line is read. The
 * turn ends with an assistant message and a {@code result} whose text is
 * {@code "t3_ns=<n> behavior=<allow|deny>"}. On Linux {@code System.nanoTime()} is
 * {@code CLOCK_MONOTONIC}, one clock for every process of the machine, so the benchmark can subtract
 * its own readings from these.
 *
 * <p>It answers the SDK's {@code initialize} control request and an {@code interrupt} (the turn ends
 * with {@code error_during_execution}, as the real CLI's does), and exits when stdin closes. Started
 * without {@code --permission-prompt-tool stdio} it exits 2 at once: a profile that does not relay
 * approvals would otherwise be timed as if it did.
 */
public final class ClaudeStandIn {
    private final BufferedReader in;
    private final PrintStream out;
    private final String sessionId = UUID.randomUUID().toString();
    private int requests;

    private ClaudeStandIn(BufferedReader in, PrintStream out) {
        this.in = in;
        this.out = out;
    }

    /**
     * Runs the stand-in on stdin/stdout.
     *
     * @param args the CLI's arguments as the claude adapter passes them
     */
    public static void main(String[] args) throws IOException {
        List<String> argv = Arrays.asList(args);
        int flag = argv.indexOf("--permission-prompt-tool");
        if (flag < 0 || flag + 1 >= argv.size() || !argv.get(flag + 1).equals("stdio")) {
            System.err.println("claude stand-in: started without --permission-prompt-tool stdio (args " + argv
                    + "); the profile does not relay approvals");
            System.exit(2);
        }
        new ClaudeStandIn(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)),
                new PrintStream(System.out, false, StandardCharsets.UTF_8)).run();
    }

    private void run() throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode node = parse(line);
            switch (node.path("type").asText("")) {
                case "user" -> turn();
                case "control_request" -> control(node, false);
                default -> {
                    // nothing else arrives between turns
                }
            }
        }
    }

    /** One turn: one permission request, its answer, the result. */
    private void turn() throws IOException {
        write(Map.of("type", "system", "subtype", "init", "session_id", sessionId, "model", "stand-in",
                "permissionMode", "default", "tools", List.of("Bash")));
        String requestId = "standin-" + (++requests);
        Map<String, Object> input = new LinkedHashMap<>();
        input.put("command", "echo bench " + requests);
        long t0 = System.nanoTime();
        input.put("t0_ns", t0);
        write(Map.of("type", "control_request", "request_id", requestId, "request", Map.of("subtype", "can_use_tool",
                "tool_name", "Bash", "input", input, "tool_use_id", "toolu_standin_" + requests,
                "permission_suggestions", List.of(Map.of("type", "addRules", "rules",
                        List.of(Map.of("toolName", "Bash", "ruleContent", "echo bench:*")),
                        "behavior", "allow", "destination", "session")))));
        String line;
        while ((line = in.readLine()) != null) {
            long t3 = System.nanoTime();
            JsonNode node = parse(line);
            String type = node.path("type").asText("");
            if (type.equals("control_response") && requestId.equals(node.path("response").path("request_id").asText())) {
                String behavior = node.path("response").path("response").path("behavior").asText("?");
                String text = "t3_ns=" + t3 + " behavior=" + behavior;
                write(Map.of("type", "assistant", "session_id", sessionId, "message", Map.of("role", "assistant",
                        "content", List.of(Map.of("type", "text", "text", text)))));
                write(result("success", false, text));
                return;
            }
            if (type.equals("control_request") && control(node, true)) {
                return;
            }
        }
    }

    /** Answers a control request from deia; true when it was an interrupt that ended the running turn. */
    private boolean control(JsonNode node, boolean inTurn) {
        String subtype = node.path("request").path("subtype").asText("");
        write(Map.of("type", "control_response", "response", Map.of("subtype", "success",
                "request_id", node.path("request_id").asText(""), "response", Map.of())));
        if (subtype.equals("interrupt") && inTurn) {
            write(result("error_during_execution", true, ""));
            return true;
        }
        return false;
    }

    private Map<String, Object> result(String subtype, boolean isError, String text) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("type", "result");
        r.put("subtype", subtype);
        r.put("is_error", isError);
        r.put("result", text);
        r.put("session_id", sessionId);
        r.put("duration_ms", 0);
        r.put("num_turns", 1);
        r.put("total_cost_usd", 0.0);
        return r;
    }

    private static JsonNode parse(String line) {
        return Json.read(line, JsonNode.class, "stdin line");
    }

    private void write(Object event) {
        out.print(Json.write(event));
        out.print('\n');
        out.flush();
    }
}
