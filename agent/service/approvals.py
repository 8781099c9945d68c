"""Approvals: the requests waiting for a supervisor, and decisions on them."""

from __future__ import annotations

from typing import Any

from langgraph.types import StateSnapshot
from pydantic import ValidationError

from agent.core.approval import ApprovalDecision, approval_payload
from agent.domain.shop import Customer, User
from agent.errors import InvalidInput, NotFound
from agent.persistence.threads import ThreadRecord
from agent.service.access import (
    DeskAccess,
    page_bounds,
)
from agent.service.request_context import request_context
from agent.text import storable_text
from agent.tools import registry
from agent.tools.base import describe_validation_error
from agent.turns import (
    Plan,
    Run,
    TurnStream,
)
from agent.views import PendingApproval


class ApprovalDesk(DeskAccess):
    """Approvals: what waits for a supervisor, and their decisions."""

    def pending_approvals(self, supervisor_id: str, *, limit: int = 50) -> list[PendingApproval]:
        """Everything waiting for a decision in the supervisor's tenant, longest waiting first."""
        supervisor = self._supervisor(supervisor_id)
        self._reconcile_tenant(supervisor.tenant)
        pending = []
        for record in self.threads.list_by_status(supervisor.tenant, "awaiting_approval",
                                                  limit=page_bounds(limit, 0)[0]):
            pending += self._approvals_in(record, self.turns.state(record.thread_id))
        return sorted(pending, key=lambda p: p.requested_at)

    def decide_approval(self, supervisor_id: str, thread_id: str, decision: dict[str, Any], *,
                        interrupt_id: str | None = None) -> TurnStream:
        """Approve, edit or reject the action a thread waits on, and stream the rest of the turn.

        `decision` is {"action": "approve"} | {"action": "edit", "arguments": {...}} |
        {"action": "reject", "reason": "..."}. A malformed decision raises InvalidInput and the
        thread keeps waiting. Decisions are checked under the thread's lock, so of two
        supervisors deciding at once, the second is told it was decided already.
        """
        supervisor = self._supervisor(supervisor_id)
        record = self._registered(thread_id)
        if record is None or record.tenant != supervisor.tenant:
            raise NotFound("thread not found")

        def prepare(head: StateSnapshot) -> Plan:
            waiting = self._approvals_in(record, head)
            if interrupt_id is not None:
                waiting = [p for p in waiting if p.interrupt_id == interrupt_id]
                if not waiting:
                    raise InvalidInput(f"no request {interrupt_id} is waiting in this thread; it "
                                       "was probably decided already (by someone else, or in "
                                       "another window)")
            if not waiting:
                raise InvalidInput("nothing in this thread is waiting for approval; it may have "
                                   "been decided already")
            target = waiting[0]
            checked = self._valid_decision(decision, target, supervisor)
            return (Run.decisions({target.interrupt_id: checked}),)

        return self.turns.start(record, prepare)


    def _valid_decision(self, decision: Any, pending: PendingApproval,
                        supervisor: User) -> dict[str, Any]:
        if not isinstance(decision, dict):
            raise InvalidInput("a decision must be an object such as {\"action\": \"approve\"}")
        # The reason reaches the customer and edited arguments the shop's tables (PostgreSQL
        # refuses NUL), so their text is checked like a message.
        edits = decision.get("arguments")
        texts = [("the reason", decision.get("reason")), ("the message", decision.get("message")),
                 *((f"the {name}", value) for name, value in
                   (edits.items() if isinstance(edits, dict) else ()))]
        for what, value in texts:
            if isinstance(value, str):
                storable_text(value, what)
        try:
            checked = ApprovalDecision.model_validate({**decision,
                                                       "decided_by": supervisor.user_id})
        except ValidationError as exc:
            raise InvalidInput(f"malformed decision: {describe_validation_error(exc)}; the "
                               "request is still waiting") from None
        if checked.action == "edit":
            tool = registry.get(pending.action)
            if tool is None:
                raise InvalidInput(f"there is no tool called {pending.action!r} any more; "
                                   "approve or reject the request as it stands")
            try:
                valid = tool.args.model_validate({**pending.arguments, **(checked.arguments or {})})
            except ValidationError as exc:
                raise InvalidInput(f"the edited arguments for {pending.action} are invalid: "
                                   f"{describe_validation_error(exc)}; the request is still "
                                   "waiting") from None
            editable = {field.name for field in pending.edit_fields}
            fixed = sorted(set(checked.arguments or {}) - editable)
            if fixed:
                # The order a request names is the customer's, never the supervisor's to change:
                # pointing a refund at another order is how the wrong customer gets paid.
                raise InvalidInput(f"{', '.join(fixed)} cannot be changed on this request (only "
                                   f"{', '.join(sorted(editable)) or 'nothing'} can); the "
                                   "request is still waiting")
            # Typed as the tool declares them ("20" from a command line becomes 20.0).
            typed = valid.model_dump()
            checked.arguments = {key: typed[key] for key in checked.arguments or {}}
            problem = tool.refusal(self.shop, Customer(pending.tenant, pending.customer_id),
                                   {**pending.arguments, **checked.arguments})
            if problem:
                raise InvalidInput(f"the edited request cannot succeed: {problem} The request "
                                   "is still waiting")
        return checked.model_dump(exclude_none=True)

    def _approvals_in(self, record: ThreadRecord,
                      snapshot: StateSnapshot) -> list[PendingApproval]:
        return [self._approval(record, i.id, payload) for i in snapshot.interrupts
                if (payload := approval_payload(i.value)) is not None]

    def _approval(self, record: ThreadRecord, interrupt_id: str,
                  value: dict[str, Any]) -> PendingApproval:
        customer = self.shop.get_user(record.user_id)
        about = request_context(self.shop, Customer(record.tenant, record.user_id),
                                value["action"], dict(value["arguments"]))
        return PendingApproval(
            thread_id=record.thread_id,
            thread_title=record.title,
            interrupt_id=interrupt_id,
            action=value["action"],
            arguments=dict(value["arguments"]),
            tool_call_id=value["tool_call_id"],
            tenant=record.tenant,
            customer_id=record.user_id,
            customer_name=customer.display_name if customer else record.user_id,
            reason=value.get("reason", ""),
            excerpt=list(value.get("excerpt", [])),
            requested_at=float(value.get("requested_at", 0.0)),
            editable_arguments=about.editable_arguments,
            label=about.label,
            summary=about.summary,
            ineligible=about.ineligible,
            order=about.order,
            effect=about.effect,
            policy=about.policy,
            edit_fields=about.edit_fields,
            in_words=about.in_words,
        )
