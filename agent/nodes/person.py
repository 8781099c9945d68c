"""The thread while a person handles it: supervisors' messages in, the assistant quiet.

A supervisor's message (in their own name) takes the thread over; one marked as a hand-back
returns it to the assistant. A customer's message while a person handles the thread is kept
for them, with no reply from the assistant. Each step writes an audit row keyed by its message.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent.core.handoff import staff_author, taken_over
from agent.domain.audit import AuditLog, AuditRecord
from agent.state import SupportContext, SupportState


def for_a_person(state: SupportState) -> bool:
    """True when the newest message is a supervisor's, or a customer's while a person handles
    the thread: the person step takes it, not the assistant."""
    messages = state.get("messages") or []
    last: AnyMessage | None = messages[-1] if messages else None
    if staff_author(last) is not None:
        return True
    return bool(state.get("handoff")) and isinstance(last, HumanMessage)


def make_person_node(audit: AuditLog):
    """The node that keeps the handoff record as supervisors write in a thread."""

    def person(state: SupportState, config: RunnableConfig,
               runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Take the thread over (or hand it back) for a supervisor's message; else wait."""
        last = state["messages"][-1]
        author = staff_author(last)
        if author is None:
            return {}  # the customer wrote to the person handling the thread
        thread_id = str(config["configurable"]["thread_id"])
        hand_back = bool(author.get("hand_back"))
        audit.record(AuditRecord(
            key=f"{thread_id}:{last.id}:{'hand_back' if hand_back else 'reply'}",
            tenant=runtime.context.tenant, thread_id=thread_id,
            customer_id=runtime.context.user_id, actor_id=str(author["user_id"]),
            action="hand_back" if hand_back else "reply", reason=last.text[:500],
            outcome=("handed back to the assistant" if hand_back
                     else "the supervisor wrote to the customer")))
        if hand_back:
            return {"handoff": None}
        handoff = taken_over(state.get("handoff"), str(author["user_id"]), str(author["name"]))
        return {} if handoff == state.get("handoff") else {"handoff": handoff}

    return person
