"""Helpers over a message list that several nodes share."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage


def last_tool_calling_message(messages: list[AnyMessage]) -> tuple[int, AIMessage] | None:
    """The newest AI message that asked for tools, with its index."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AIMessage):
            return (index, message) if message.tool_calls else None
    return None


def unanswered_tool_calls(messages: list[AnyMessage]) -> list[dict]:
    """Tool calls of the newest AI message that have no ToolMessage yet."""
    found = last_tool_calling_message(messages)
    if found is None:
        return []
    index, message = found
    answered = {m.tool_call_id for m in messages[index + 1:] if isinstance(m, ToolMessage)}
    return [call for call in message.tool_calls if call["id"] not in answered]


def last_human_text(messages: list[AnyMessage]) -> str:
    """The text of the newest customer message ('' if none)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def split_system(messages: list[AnyMessage]) -> tuple[list[AnyMessage], list[AnyMessage]]:
    """(system messages, the rest): system messages are never pruned or summarised away."""
    system = [m for m in messages if isinstance(m, SystemMessage)]
    return system, [m for m in messages if not isinstance(m, SystemMessage)]


def turn_starts(messages: list[AnyMessage]) -> list[int]:
    """Indexes where a customer turn begins; cutting only there never orphans a ToolMessage."""
    return [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]


def message_chars(message: AnyMessage) -> int:
    """Rough size of a message as a model would read it."""
    size = len(message.text)
    if isinstance(message, AIMessage):
        size += sum(len(call["name"]) + len(str(call["args"])) for call in message.tool_calls)
    return size
