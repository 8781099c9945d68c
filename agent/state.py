"""The graph's state and the per-run context it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from agent.core.handoff import Handoff


class SupportState(TypedDict, total=False):
    """What a thread checkpoints: the recent messages, a running summary, the customer."""

    messages: Annotated[list[AnyMessage], add_messages]
    summary: str
    customer: dict[str, Any]  # {"user_id", "tenant", "profile": {"name", "preferences"}}
    # Set while a person handles the thread (the assistant stays quiet); None once handed back.
    handoff: Handoff | None
    # The supervisors' decisions on the newest AI message's sensitive calls, by tool call id:
    # {"action", "by", "at", "before", "after"}. The actions node runs a sensitive call only
    # with an "approve" or "edit" recorded here for that very call.
    decisions: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SupportContext:
    """Who the run is for. Passed on every run and never checkpointed or taken from input."""

    user_id: str
    tenant: str
