"""Plain data the service façade returns: no LangGraph or database types leak past it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.domain.attachments import AttachmentRef
from agent.persistence.threads import ThreadRecord

# "staff": a supervisor writing in the thread in their own name (a handoff, or a reply given
# instead of an approval decision); `ChatMessage.author` names them.
Role = Literal["customer", "assistant", "staff", "tool", "system"]


@dataclass(frozen=True)
class ChatMessage:
    """One message as a person reads it."""

    id: str | None
    role: Role
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "args", "id"}]
    tool_name: str | None = None
    ok: bool = True
    author: str | None = None  # the person who wrote a "staff" message (display name)
    # What a tool call does, in words a customer reads ("Checking order ORD-1002"); one
    # entry per tool call of an assistant message, in order.
    progress: tuple[str, ...] = ()
    # The customer's photos and PDFs sent with this message (references; the desk's
    # `attachment` reads the bytes).
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class EditField:
    """One argument a supervisor may change on a request, as a typed form field."""

    name: str  # the tool argument (never shown to people)
    label: str  # "Amount to refund"
    kind: Literal["money", "text", "long_text"]
    value: Any  # the current value (None when the request left it out)
    maximum: float | None = None  # for money: the most this action may take
    help: str = ""


@dataclass(frozen=True)
class OrderFacts:
    """What a supervisor checks about the order a request names."""

    order_id: str
    items: tuple[str, ...]  # "Trail hiking boots ($129.00)", "2 x Tent stakes ($30.00)"
    amount_cents: int
    status: str
    placed_at: str
    delivered_at: str | None
    refunded_cents: int
    earlier_refunds: tuple[str, ...]  # "$20.00 on 2026-11-20 (REF-1A2B3C4D): leaking"
    shipping_address: str = ""


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
    order: OrderFacts | None = None
    # Exactly what approving does, amounts spelled out ("Refunds $129.00: the full amount
    # still refundable on ORD-1001").
    effect: str = ""
    policy: str = ""  # what the shop's policy says about this kind of action
    edit_fields: tuple[EditField, ...] = ()  # what "edit" may change, typed
    # The request as the customer's waiting notice names it ("a refund of $129.00 on
    # ORD-1001").
    in_words: str = ""


@dataclass(frozen=True)
class HandoffView:
    """A thread a person handles (or was asked to), as the supervisors' queue shows it."""

    thread_id: str
    thread_title: str
    customer_id: str
    customer_name: str
    status: Literal["waiting", "with_person"]
    requested_at: float
    reason: str
    person_id: str | None
    person_name: str | None
    excerpt: list[str]  # the last few messages, "Customer: ..." / "Sam Rivera: ..."
    last_message_at: float  # when the thread last changed


@dataclass(frozen=True)
class ThreadView:
    """A thread as its owner (or a supervisor) sees it now."""

    thread: ThreadRecord
    messages: list[ChatMessage]
    summary: str
    pending_approvals: list[PendingApproval]
    next_nodes: tuple[str, ...]  # steps still to run (or run but not yet checkpointed)
    checkpoint_id: str | None
    handoff: HandoffView | None = None  # set while a person handles the thread


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
    message: str = ""  # the customer message this step belongs to (the newest one)
    in_words: str = ""  # what the step did, for a customer ("The assistant checked ORD-1002")


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
    progress: str = ""  # in a customer's words: "Checking order ORD-1002"


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
class AuditView:
    """One row of the audit trail, as supervisors read it."""

    audit_id: int
    created_at: float
    thread_id: str | None
    customer_id: str
    customer_name: str
    actor_id: str
    actor_name: str
    action: str  # approve | edit | reject | respond | handoff | reply | hand_back
    tool: str | None
    tool_label: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    outcome: str
    ok: bool


@dataclass(frozen=True)
class FeedbackView:
    """One rating, as supervisors read it."""

    created_at: float
    thread_id: str
    thread_title: str
    customer_id: str
    customer_name: str
    kind: Literal["reply", "conversation"]
    score: int  # +1/-1 for a reply, 1-5 for a conversation
    comment: str
    message_excerpt: str  # the start of the rated reply ('' for a conversation)


@dataclass(frozen=True)
class Check:
    """One line of `doctor`."""

    name: str
    ok: bool
    detail: str
