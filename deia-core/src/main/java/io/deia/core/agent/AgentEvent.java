package io.deia.core.agent;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/**
 * What an agent reports while it runs a turn, in the order it happens. Serialised as JSON with a
 * {@code type} field ({@code text_delta}, {@code assistant_message}, …), which is also the shape
 * the bot streams to the controller.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = AgentEvent.TextDelta.class, name = "text_delta"),
        @JsonSubTypes.Type(value = AgentEvent.AssistantMessage.class, name = "assistant_message"),
        @JsonSubTypes.Type(value = AgentEvent.ToolUse.class, name = "tool_use"),
        @JsonSubTypes.Type(value = AgentEvent.ToolResult.class, name = "tool_result"),
        @JsonSubTypes.Type(value = AgentEvent.PermissionRequest.class, name = "permission_request"),
        @JsonSubTypes.Type(value = AgentEvent.Result.class, name = "result"),
        @JsonSubTypes.Type(value = AgentEvent.Error.class, name = "error")
})
public sealed interface AgentEvent {

    /** A piece of the reply text as it streams. */
    record TextDelta(String text) implements AgentEvent {
    }

    /** A complete assistant text block. */
    record AssistantMessage(String text) implements AgentEvent {
    }

    /** The agent called a tool ({@code input} is the tool's JSON arguments as text). */
    record ToolUse(String id, String name, String input) implements AgentEvent {
    }

    /** A tool's answer. */
    record ToolResult(String id, String content, boolean isError) implements AgentEvent {
    }

    /** The agent asks to use a tool that its permission mode does not allow by itself. */
    record PermissionRequest(String requestId, String toolName, String input) implements AgentEvent {
    }

    /** The end of a turn, with what the CLI reported about it. */
    record Result(TurnResult result) implements AgentEvent {
    }

    /** Something went wrong; the turn may still end with a {@link Result}. */
    record Error(String message) implements AgentEvent {
    }
}
