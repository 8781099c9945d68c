"""An edit decision may change only what the card offers, and only to something that can succeed."""

from __future__ import annotations

import pytest

from agent.errors import InvalidInput
from agent.service import SupportDesk, collect


def waiting_refund(desk: SupportDesk) -> str:
    """Alice's refund of ORD-1001 ($129.00), waiting for Sam; its thread id."""
    result = desk.ask("alice", "Please refund ORD-1001, the boots leak")
    assert result.status == "awaiting_approval"
    return result.thread_id


def test_the_order_of_a_request_cannot_be_edited(desk: SupportDesk) -> None:
    """Pointing Alice's refund at Bob's order is refused, and nothing is refunded."""
    thread = waiting_refund(desk)
    with pytest.raises(InvalidInput, match="order_id cannot be changed"):
        desk.decide_approval("sam", thread, {"action": "edit",
                                             "arguments": {"order_id": "ORD-1101"}})
    assert desk.shop.ledger() == []
    assert len(desk.pending_approvals("sam")) == 1


def test_an_edit_above_what_is_left_is_refused_and_keeps_waiting(desk: SupportDesk) -> None:
    """$500 of a $129 order: told why, still waiting; then a valid edit goes through."""
    thread = waiting_refund(desk)
    [card] = desk.pending_approvals("sam")
    [amount] = [field for field in card.edit_fields if field.name == "amount"]
    assert amount.maximum == 129.0
    with pytest.raises(InvalidInput, match=r"\$129\.00.*still waiting"):
        desk.decide_approval("sam", thread, {"action": "edit", "arguments": {"amount": 500}})
    assert len(desk.pending_approvals("sam")) == 1
    outcome = collect(desk.decide_approval("sam", thread, {"action": "edit",
                                                           "arguments": {"amount": 30}}))
    assert "A supervisor changed the amount from the full amount to $30.00" in outcome.reply
    assert [e.amount_cents for e in desk.shop.ledger()] == [3000]
    [row] = desk.audit_trail("sam", actions=("edit",))
    assert (row.before.get("amount"), row.after["amount"], row.ok) == (None, 30.0, True)
    assert row.outcome.startswith("Refunded $30.00 on ORD-1001")
