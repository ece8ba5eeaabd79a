package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Opens the session of a freshly started ACP agent: {@code initialize} (protocol version
 * {@value #PROTOCOL_VERSION}, no file system or terminal offered by deia), then
 * {@code session/load} of the stored session when the agent advertises {@code loadSession} (its
 * history replay is awaited and dropped), else or when the agent refuses to load it,
 * {@code session/new}. Every request is bounded by the turn's deadline and ends early when the turn
 * is stopped.
 */
final class AcpSessionStart {
    private static final Logger log = LoggerFactory.getLogger(AcpSessionStart.class);
    /** ACP protocol version deia speaks (the pinned Gemini CLI answers 1). */
    static final int PROTOCOL_VERSION = 1;

    /** Why the agent could not be started or its session opened. */
    static class StartException extends Exception {
        /** The agent process's exit code when it exited, else null. */
        final Integer exitCode;
        /** Whether the process died (a crash), rather than refusing or being too slow. */
        final boolean exited;

        StartException(String message, Integer exitCode, boolean exited) {
            super(message);
            this.exitCode = exitCode;
            this.exited = exited;
        }
    }

    /** The agent answered a request with an error. */
    static final class Refused extends StartException {
        Refused(String message) {
            super(message, null, false);
        }
    }

    /**
     * The session: the loaded {@code stored} one, or a new one.
     *
     * @param loaded whether {@code id} is the stored session, loaded
     */
    record Opened(String id, boolean loaded) {
    }

    private final String botId;
    private final String cli;
    private final AcpConnection c;
    private final CompletableFuture<Void> stop;
    private final long deadline;

    /**
     * @param stop     completes when the turn is stopped: the start ends at once
     * @param deadline {@link System#nanoTime()} by which every answer must have come
     */
    AcpSessionStart(String botId, String cli, AcpConnection c, CompletableFuture<Void> stop, long deadline) {
        this.botId = botId;
        this.cli = cli;
        this.c = c;
        this.stop = stop;
        this.deadline = deadline;
    }

    /**
     * Initializes the agent and opens a session in {@code cwd}.
     *
     * @param stored     the session to load, or null
     * @param beforeLoad runs right before {@code session/load}
     */
    Opened open(Path cwd, String stored, Runnable beforeLoad) throws StartException {
        JsonNode init = call("initialize", Map.of("protocolVersion", PROTOCOL_VERSION, "clientCapabilities",
                Map.of("fs", Map.of("readTextFile", false, "writeTextFile", false), "terminal", false)));
        boolean canLoad = init.path("agentCapabilities").path("loadSession").asBoolean(false);
        String dir = cwd.toAbsolutePath().toString();
        if (stored != null && canLoad) {
            beforeLoad.run();
            c.replaying();
            try {
                call("session/load", Map.of("sessionId", stored, "cwd", dir, "mcpServers", List.of()));
                c.awaitReplayEnd(stop);
                log.info("[{}] {} pid {} loaded session {}", botId, cli, c.process.pid(), stored);
                return new Opened(stored, true);
            } catch (Refused e) {
                log.warn("[{}] {} could not load session {} ({}); starting a new session", botId, cli, stored, e.getMessage());
            } finally {
                c.replayed();
            }
        } else if (stored != null) {
            log.warn("[{}] {} cannot load sessions; session {} is left and a new one starts", botId, cli, stored);
        }
        String session = call("session/new", Map.of("cwd", dir, "mcpServers", List.of())).path("sessionId").asText("");
        if (session.isBlank()) {
            throw new StartException(cli + " answered session/new without a sessionId", null, false);
        }
        log.info("[{}] {} pid {} started session {}", botId, cli, c.process.pid(), session);
        return new Opened(session, false);
    }

    private JsonNode call(String method, Map<String, Object> params) throws StartException {
        CompletableFuture<JsonNode> f = c.request(method, params);
        try {
            CompletableFuture.anyOf(f, stop).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new StartException(cli + " did not answer " + method + " in time", null, false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartException("interrupted while " + cli + " started", null, false);
        } catch (ExecutionException e) {
            // f failed: read below
        }
        if (!f.isDone()) {
            throw new StartException(cli + " was stopped before it started", null, false);
        }
        try {
            return f.join();
        } catch (RuntimeException e) {
            Throwable cause = e.getCause();
            if (cause instanceof AcpConnection.RpcException) {
                throw new Refused(cli + " refused " + cause.getMessage());
            }
            throw new StartException(cause == null ? e.toString() : cause.getMessage(), c.process.exitCode(), true);
        }
    }
}
