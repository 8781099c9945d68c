"""Human approval: pause before a sensitive tool runs; resume with approve, edit, reject or respond.

Each decision is recorded in the state (`decisions`) for its tool call, and the actions node
applies it once this step is checkpointed: it runs a sensitive call only with an approval
recorded for that very call, answers a rejection with the supervisor's reason, and for a
response puts the supervisor's own message in the thread, which a person then handles.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.auth import acting_supervisor
from agent.core.approval import ApprovalDecision, human_interrupt, parse_decision
from agent.core.handoff import staff_author
from agent.core.seal import DecisionSeal
from agent.nodes.messages import last_tool_calling_message, unanswered_tool_calls
from agent.state import SupportContext, SupportState

EXCERPT_MESSAGES = 4
MAX_ASKS = 20  # answers a pause takes before the run gives up (a client answering in a loop)


def approval_request(call: dict, state: SupportState, context: SupportContext) -> dict[str, Any]:
    """The interrupt payload: the action, its arguments, the customer and their reason."""
    messages = state["messages"]
    excerpt = []
    for message in messages[-EXCERPT_MESSAGES:]:
        if not message.text or isinstance(message, ToolMessage):
            continue
        author = staff_author(message)
        who = ("Customer" if isinstance(message, HumanMessage)
               else f"{author['name']} (support team)" if author else "Assistant")
        excerpt.append(f"{who}: {message.text}")
    return {
        "kind": "approval",
        "action": call["name"],
        "arguments": call["args"],
        "tool_call_id": call["id"],
        "customer": {"user_id": context.user_id, "tenant": context.tenant},
        "reason": str(call["args"].get("reason") or ""),
        "excerpt": excerpt,
        "requested_at": time.time(),
    }


def needs_approval(messages: list[AnyMessage], approval_required: frozenset[str]) -> bool:
    """True if the newest AI message asks for any tool that needs a supervisor."""
    return any(call["name"] in approval_required for call in unanswered_tool_calls(messages))


def decision_key(thread_id: str, tool_call_id: str) -> str:
    """The audit key of the decision on one tool call (shared with the side effect's row)."""
    return f"{thread_id}:{tool_call_id}:decision"


def make_approval_node(approval_required: frozenset[str], seal: DecisionSeal):
    """The approval node for the configured set of sensitive tools."""

    def approval(state: SupportState, config: RunnableConfig,
                 runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Interrupt once per sensitive call and record each decision, sealed (applied by
        `actions`). Nothing is written outside the state: a decision whose step dies before
        its checkpoint was never taken, so it must leave no trace."""
        found = last_tool_calling_message(state["messages"])
        if found is None:
            return {}
        _, ai_message = found
        thread_id = str(config["configurable"]["thread_id"])
        calls = {call["id"]: dict(call) for call in ai_message.tool_calls}
        decisions: dict[str, dict[str, Any]] = {}
        edited = False
        for call in unanswered_tool_calls(state["messages"]):
            if call["name"] not in approval_required:
                continue
            decision = ask_supervisor(approval_request(call, state, runtime.context))
            # On LangGraph Server the signed-in supervisor decides, whatever the answer claims.
            by = acting_supervisor(config) or decision.decided_by or "unknown"
            record: dict[str, Any] = {"action": decision.action, "by": by,
                                      "at": time.time(), "before": dict(call["args"])}
            if decision.action == "edit":
                calls[call["id"]]["args"] = {**call["args"], **(decision.arguments or {})}
                record["after"] = calls[call["id"]]["args"]
                edited = True
            elif decision.action == "reject":
                record["reason"] = (decision.reason or "").strip()
            elif decision.action == "respond":
                record["message"] = (decision.message or "").strip()
            record["seal"] = seal.seal(thread_id, call["id"], record, calls[call["id"]]["args"])
            decisions[call["id"]] = record
        updates: dict[str, Any] = {"decisions": decisions}
        if edited:
            # Same id: add_messages replaces the AI message, so the edited arguments are
            # what the tool runs with and what the history shows.
            updates["messages"] = [ai_message.model_copy(
                update={"tool_calls": list(calls.values())})]
        return updates

    return approval


def ask_supervisor(request: dict[str, Any]) -> ApprovalDecision:
    """Pause for a decision; a malformed answer (possible from an API client) asks again."""
    problem = ""
    for _ in range(MAX_ASKS):
        shown = {**request, "problem": problem} if problem else request
        answer = interrupt(human_interrupt(shown, describe(request)))
        try:
            return parse_decision(answer, request["arguments"])
        except ValueError as exc:
            problem = f"The last answer was not understood ({exc}); please answer again."
    raise ValueError(f"no valid decision after {MAX_ASKS} answers")


def describe(request: dict[str, Any]) -> str:
    """One line for an inbox: what is asked, and the customer's reason."""
    reason = f" Reason given: {request['reason']}" if request.get("reason") else ""
    return f"{request['action']} with {request['arguments']} for " \
           f"{request['customer']['user_id']}.{reason}"
