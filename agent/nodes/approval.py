"""Human approval: pause before a sensitive tool runs, resume with approve, edit or reject."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.core.approval import ApprovalDecision
from agent.nodes.messages import last_human_text, last_tool_calling_message, unanswered_tool_calls
from agent.state import SupportContext, SupportState

EXCERPT_MESSAGES = 4


def approval_request(call: dict, state: SupportState, context: SupportContext) -> dict[str, Any]:
    """The interrupt payload: the action, its arguments, the customer and the reason."""
    messages = state["messages"]
    excerpt = [
        f"{'Customer' if isinstance(m, HumanMessage) else 'Assistant'}: {m.text}"
        for m in messages[-EXCERPT_MESSAGES:]
        if m.text and not isinstance(m, ToolMessage)
    ]
    return {
        "kind": "approval",
        "action": call["name"],
        "arguments": call["args"],
        "tool_call_id": call["id"],
        "customer": {"user_id": context.user_id, "tenant": context.tenant},
        "reason": call["args"].get("reason") or last_human_text(messages),
        "excerpt": excerpt,
        "requested_at": time.time(),
    }


def needs_approval(messages: list[AnyMessage], approval_required: frozenset[str]) -> bool:
    """True if the newest AI message asks for any tool that needs a supervisor."""
    return any(call["name"] in approval_required for call in unanswered_tool_calls(messages))


def make_approval_node(approval_required: frozenset[str]):
    """The approval node for the configured set of sensitive tools."""

    def approval(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Interrupt once per sensitive call; apply each decision to the pending tool calls."""
        found = last_tool_calling_message(state["messages"])
        if found is None:
            return {}
        _, ai_message = found
        calls = {call["id"]: dict(call) for call in ai_message.tool_calls}
        rejections: list[ToolMessage] = []
        edited = False
        for call in unanswered_tool_calls(state["messages"]):
            if call["name"] not in approval_required:
                continue
            decision = interrupt(approval_request(call, state, runtime.context),
                                 response_schema=ApprovalDecision)
            if decision.action == "edit":
                calls[call["id"]]["args"] = {**call["args"], **(decision.arguments or {})}
                edited = True
            elif decision.action == "reject":
                rejections.append(ToolMessage(
                    f"A supervisor declined this request: {decision.reason.strip()}",
                    tool_call_id=call["id"], name=call["name"], status="error",
                ))
        updates: list[AnyMessage] = []
        if edited:
            # Same id: add_messages replaces the AI message, so the edited arguments are
            # what the tool runs with and what the history shows.
            updates.append(ai_message.model_copy(update={"tool_calls": list(calls.values())}))
        return {"messages": updates + rejections}

    return approval
