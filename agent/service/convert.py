"""Turn streams and LangChain messages into what a person reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_to_dict,
)

from agent.core.handoff import staff_author
from agent.domain.attachments import refs_in, typed_text
from agent.tools.registry import progress_words
from agent.views import (
    ChatEvent,
    ChatMessage,
    TurnEndedEvent,
    TurnResult,
)


def collect(events: Iterator[ChatEvent]) -> TurnResult:
    """Drain a stream of events into one TurnResult."""
    seen = list(events)
    end = next((e for e in reversed(seen) if isinstance(e, TurnEndedEvent)), None)
    if end is None:  # pragma: no cover - _run always ends with TurnEndedEvent
        raise RuntimeError("the turn ended without a TurnEndedEvent")
    return TurnResult(end.thread_id, end.status, end.reply, seen)


def to_chat_message(message: AnyMessage) -> ChatMessage:
    """A LangChain message as a person reads it."""
    if isinstance(message, HumanMessage):
        return ChatMessage(message.id, "customer", typed_text(message),
                           attachments=tuple(refs_in(message)))
    if isinstance(message, AIMessage):
        author = staff_author(message)
        if author is not None:
            return ChatMessage(message.id, "staff", message.text, author=str(author["name"]))
        calls = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in message.tool_calls]
        return ChatMessage(message.id, "assistant", message.text, tool_calls=calls,
                           progress=tuple(progress_words(c) for c in message.tool_calls))
    if isinstance(message, ToolMessage):
        return ChatMessage(message.id, "tool", message.text, tool_name=message.name,
                           ok=message.status != "error")
    if isinstance(message, SystemMessage):
        return ChatMessage(message.id, "system", message.text)
    return ChatMessage(message.id, "system", str(message.content))


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """State values in a JSON-friendly shape."""
    return {
        "messages": messages_to_dict(values.get("messages", [])),
        "summary": values.get("summary", ""),
        "customer": values.get("customer", {}),
        "handoff": values.get("handoff"),
        "decisions": values.get("decisions", {}),
    }


