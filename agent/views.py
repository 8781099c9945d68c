"""Plain data the service façade returns: no LangGraph or database types leak past it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.persistence.threads import ThreadRecord

Role = Literal["customer", "assistant", "tool", "system"]


@dataclass(frozen=True)
class ChatMessage:
    """One message as a person reads it."""

    id: str | None
    role: Role
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "args", "id"}]
    tool_name: str | None = None
    ok: bool = True


@dataclass(frozen=True)
class PendingApproval:
    """A sensitive action waiting for a supervisor."""

    thread_id: str
    thread_title: str
    interrupt_id: str
    action: str
    arguments: dict[str, Any]
    tool_call_id: str
    tenant: str
    customer_id: str
    customer_name: str
    reason: str
    excerpt: list[str]
    requested_at: float
    editable_arguments: tuple[str, ...] = ()  # every argument the tool takes, set or not
    label: str = ""  # the tool's label for people ("Refund")
    summary: str = ""  # the request with its order's item, amount and status
    ineligible: str = ""  # why the order cannot take the request now; "" when it can


@dataclass(frozen=True)
class ThreadView:
    """A thread as its owner (or a supervisor) sees it now."""

    thread: ThreadRecord
    messages: list[ChatMessage]
    summary: str
    pending_approvals: list[PendingApproval]
    next_nodes: tuple[str, ...]  # steps still to run (or run but not yet checkpointed)
    checkpoint_id: str | None


@dataclass(frozen=True)
class ThreadPage:
    """One page of a user's threads, newest activity first."""

    threads: list[ThreadRecord]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint in a thread's history."""

    checkpoint_id: str
    parent_id: str | None
    step: int
    source: str  # input | loop | update | fork
    written_by: tuple[str, ...]  # the node(s) whose writes made it; ("input",) for input
    next_nodes: tuple[str, ...]  # what runs from here
    created_at: str
    message_count: int
    size_bytes: int
    can_fork: bool  # the newest message is a customer message, which a fork may edit
    awaiting_approval: bool


@dataclass(frozen=True)
class CheckpointState:
    """The full state at one checkpoint, and what changed from its parent."""

    info: CheckpointInfo
    messages: list[ChatMessage]
    summary: str
    customer: dict[str, Any]
    values: dict[str, Any]  # JSON-friendly raw values
    added_message_ids: list[str]
    removed_message_ids: list[str]
    summary_changed: bool


# --- events streamed while a turn runs -------------------------------------------------------


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the assistant's reply, as the model writes it."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """The assistant asked for a tool."""

    name: str
    arguments: dict[str, Any]
    needs_approval: bool


@dataclass(frozen=True)
class ToolResultEvent:
    """A tool answered (or a supervisor declined it)."""

    name: str
    text: str
    ok: bool


@dataclass(frozen=True)
class HousekeepingEvent:
    """Old messages were summarised or pruned away."""

    kind: Literal["summarize", "prune"]
    removed_messages: int


@dataclass(frozen=True)
class ApprovalRequestedEvent:
    """The turn paused: a supervisor must decide."""

    approval: PendingApproval


@dataclass(frozen=True)
class TurnEndedEvent:
    """The run stopped: finished, or waiting for approval."""

    thread_id: str
    status: str
    reply: str
    checkpoint_id: str | None


ChatEvent = (TokenEvent | ToolCallEvent | ToolResultEvent | HousekeepingEvent
             | ApprovalRequestedEvent | TurnEndedEvent)


@dataclass(frozen=True)
class TurnResult:
    """A whole turn at once, for callers that do not stream."""

    thread_id: str
    status: str
    reply: str
    events: list[ChatEvent]

    @property
    def pending_approvals(self) -> list[PendingApproval]:
        return [e.approval for e in self.events if isinstance(e, ApprovalRequestedEvent)]


@dataclass(frozen=True)
class Check:
    """One line of `doctor`."""

    name: str
    ok: bool
    detail: str
