"""Handoffs: threads a person handles, supervisors writing in them, and handing them back."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.types import StateSnapshot

from agent.core.handoff import HAND_BACK_NOTE, staff_author, staff_message
from agent.domain.shop import Shop, User
from agent.errors import InvalidInput, NotFound
from agent.persistence.threads import ThreadRecord
from agent.service.access import DeskAccess, page_bounds
from agent.turns import Plan, Run, TurnStream, has_pending_work
from agent.views import HandoffView

EXCERPT_MESSAGES = 6


class HandoffDesk(DeskAccess):
    """Handoffs: the supervisors' queue of threads a person handles, and writing in them."""

    def handoffs(self, supervisor_id: str, *, limit: int = 50) -> list[HandoffView]:
        """Threads of the supervisor's tenant a person handles: still unanswered first."""
        supervisor = self._supervisor(supervisor_id)
        self._reconcile_tenant(supervisor.tenant)
        views = []
        for record in self.threads.list_by_status(supervisor.tenant, "handoff",
                                                  limit=page_bounds(limit, 0)[0]):
            view = handoff_view(self.shop, record, self.turns.state(record.thread_id))
            if view is not None:
                views.append(view)
        return sorted(views, key=lambda v: (v.status != "waiting", v.requested_at))

    def reply_as_staff(self, supervisor_id: str, thread_id: str, text: str) -> TurnStream:
        """Write to the customer as the supervisor; the assistant waits until handed back."""
        supervisor = self._supervisor(supervisor_id)
        record = self._tenant_thread(supervisor, thread_id)
        text = self._valid_message(text)

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                raise InvalidInput("this thread waits for a decision on a requested action: "
                                   "decide it, or use 'Reply instead' on its approval card")
            message = Run({"messages": [staff_message(
                text, person_id=supervisor.user_id, person_name=supervisor.display_name)]})
            return (Run.pending_work(), message) if has_pending_work(head) else (message,)

        return self.turns.start(record, prepare)

    def hand_back(self, supervisor_id: str, thread_id: str,
                  note: str | None = None) -> TurnStream:
        """Hand the thread back to the assistant, telling the customer so."""
        supervisor = self._supervisor(supervisor_id)
        record = self._tenant_thread(supervisor, thread_id)
        text = self._valid_message(note) if note and note.strip() else HAND_BACK_NOTE

        def prepare(head: StateSnapshot) -> Plan:
            if head.interrupts:
                raise InvalidInput("this thread waits for a decision on a requested action; "
                                   "decide it first")
            if not (head.values or {}).get("handoff"):
                raise InvalidInput("the assistant already handles this thread; nothing to "
                                   "hand back")
            return (Run({"messages": [staff_message(
                text, person_id=supervisor.user_id, person_name=supervisor.display_name,
                hand_back=True)]}),)

        return self.turns.start(record, prepare)

    def _tenant_thread(self, supervisor: User, thread_id: str) -> ThreadRecord:
        record = self._registered(thread_id)
        if record is None or record.tenant != supervisor.tenant:
            raise NotFound("thread not found")
        return record


def handoff_view(shop: Shop, record: ThreadRecord, snapshot: StateSnapshot) -> HandoffView | None:
    """The thread as the handoff queue shows it, or None when the assistant handles it."""
    values = snapshot.values or {}
    handoff = values.get("handoff")
    if not handoff:
        return None
    customer = shop.get_user(record.user_id)
    customer_name = customer.display_name if customer else record.user_id
    excerpt = []
    for message in values.get("messages", [])[-EXCERPT_MESSAGES:]:
        if isinstance(message, ToolMessage) or not message.text:
            continue
        author = staff_author(message)
        who = (customer_name if isinstance(message, HumanMessage)
               else author["name"] if author else "Assistant")
        excerpt.append(f"{who}: {message.text}")
    return HandoffView(
        thread_id=record.thread_id, thread_title=record.title, customer_id=record.user_id,
        customer_name=customer_name, status=handoff.get("status", "waiting"),
        requested_at=float(handoff.get("requested_at", record.updated_at)),
        reason=str(handoff.get("reason", "")), person_id=handoff.get("person_id"),
        person_name=handoff.get("person_name"), excerpt=excerpt,
        last_message_at=record.updated_at)
