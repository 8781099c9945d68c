"""A new customer message while tool calls wait (for approval, say): the calls are withdrawn.

Every tool call must be answered before the conversation goes on (a model API refuses a
conversation with an unanswered call), and a request the customer has moved on from must not
run later. So the pending calls are answered as withdrawn, and the customer's new message is
moved after those answers. LangGraph drops the pending approval pause with the new run.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage, RemoveMessage, ToolMessage

from agent.core.handoff import staff_author
from agent.nodes.messages import unanswered_tool_calls
from agent.state import SupportState

WITHDRAWN = "Not done: the customer wrote again before this was decided, so it was withdrawn."


def _written_by_a_person(message: AnyMessage) -> bool:
    return isinstance(message, HumanMessage) or staff_author(message) is not None


def _newest_written(messages: list[AnyMessage]) -> int:
    """Where the trailing run of messages people wrote (customer or staff) starts."""
    index = len(messages)
    while index and _written_by_a_person(messages[index - 1]):
        index -= 1
    return index


def calls_left_behind(state: SupportState) -> bool:
    """True when people wrote after tool calls that are still unanswered."""
    messages = state.get("messages") or []
    index = _newest_written(messages)
    return index < len(messages) and bool(unanswered_tool_calls(messages[:index]))


def withdraw(state: SupportState) -> dict[str, Any]:
    """Answer the calls left behind as withdrawn; put what people wrote after them."""
    messages: list[AnyMessage] = state["messages"]
    index = _newest_written(messages)  # a client may send several messages at once
    newer = messages[index:]
    answers = [ToolMessage(WITHDRAWN, tool_call_id=call["id"], name=call["name"],
                           status="error") for call in unanswered_tool_calls(messages[:index])]
    moved = [m.model_copy(update={"id": f"{m.id}-again"}) for m in newer]
    return {"messages": [*(RemoveMessage(id=m.id) for m in newer), *answers, *moved],
            "decisions": {}}
