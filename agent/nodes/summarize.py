"""Summarising: fold older turns into the running summary and remove them from the thread."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.constants import TAG_NOSTREAM

from agent.core.handoff import staff_author
from agent.crash import INERT, CrashSwitch
from agent.nodes.messages import split_system, turn_starts
from agent.prompts import SUMMARY_PROMPT
from agent.settings import Settings
from agent.state import SupportState


def needs_summary(messages: list[AnyMessage], settings: Settings) -> bool:
    """True when summarising is on and the thread holds more messages than its trigger."""
    _, body = split_system(messages)
    return 0 < settings.summary_trigger_messages < len(body)


def messages_to_fold(messages: list[AnyMessage], settings: Settings) -> list[AnyMessage]:
    """The oldest whole turns, leaving at most `summary_keep_messages` (but the latest turn)."""
    _, body = split_system(messages)
    starts = turn_starts(body)
    cut = next((i for i in starts if len(body) - i <= settings.summary_keep_messages),
               starts[-1] if starts else 0)
    return body[:cut]


def render_transcript(summary: str, messages: list[AnyMessage]) -> str:
    """The text the summariser reads: previous summary, then one line per message."""
    lines = []
    if summary:
        lines += ["Previous summary:", summary, ""]
    lines.append("Conversation:")
    for message in messages:
        text = " ".join(message.text.split())
        if isinstance(message, HumanMessage):
            lines.append(f"Customer: {text}")
        elif (author := staff_author(message)) is not None:
            lines.append(f"Support team ({author['name']}): {text}")
        elif isinstance(message, AIMessage):
            if text:
                lines.append(f"Assistant: {text}")
            for call in message.tool_calls:
                lines.append(f"Assistant called {call['name']}({call['args']})")
        elif isinstance(message, ToolMessage):
            kind = "Tool error" if message.status == "error" else "Tool result"
            lines.append(f"{kind} ({message.name}): {text}")
    return "\n".join(lines)


def make_summarize_node(model: BaseChatModel, settings: Settings, crash: CrashSwitch = INERT):
    """The summarise node, bound to a model and its thresholds."""

    def summarize(state: SupportState) -> dict[str, Any]:
        """Fold the oldest turns into `summary` and remove them with RemoveMessage."""
        folded = messages_to_fold(state["messages"], settings)
        if not folded:
            return {}
        transcript = render_transcript(state.get("summary", ""), folded)
        # Tagged so LangGraph keeps the summary's tokens out of `messages` streams: clients
        # (ours, the SDK, Studio) see the assistant's reply, never the summariser's working.
        reply = model.invoke([SystemMessage(SUMMARY_PROMPT), HumanMessage(transcript)],
                             config={"tags": [TAG_NOSTREAM]})
        crash.reached("summarize")
        return {"summary": reply.text.strip(),
                "messages": [RemoveMessage(id=m.id) for m in folded]}

    return summarize
