"""An approval card a supervisor can decide from: the order, what approving does (amounts
spelled out), the policy, typed edit fields, and the request in the customer's words."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agent.domain.policy import POLICY
from agent.domain.shop import Customer, Order, Shop, reference
from agent.persistence.savers import open_persistence
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.tools import registry
from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.intents import Intent, Request
from agent.views import EditField, PendingApproval

POLICY_TEXT = {entry.topic: entry.text for entry in POLICY}


@pytest.fixture
def desk(make_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    """A SupportDesk on a real SQLite file."""
    with SupportDesk.open(make_settings("sqlite")) as opened:
        yield opened


def waiting(desk: SupportDesk, message: str, user: str = "alice") -> PendingApproval:
    """Ask; the request waits for sam; return it as the inbox shows it."""
    result = desk.ask(user, message)
    assert result.status == "awaiting_approval", result.reply
    [pending] = [p for p in desk.pending_approvals("sam") if p.thread_id == result.thread_id]
    return pending


def no_order_number_to_edit(pending: PendingApproval) -> None:
    """Which order a request is for is never something an edit can change."""
    assert all(not f.name.endswith("_id") for f in pending.edit_fields)
    assert all("_" not in f.label and f.label[0].isupper() for f in pending.edit_fields)


def test_a_full_refund_card(desk: SupportDesk) -> None:
    """Order facts, the full amount said explicitly, the refund policy, amount and reason."""
    pending = waiting(desk, "Please refund ORD-1001, the boots leak")
    assert pending.label == "Refund"
    assert pending.ineligible == ""
    order = pending.order
    assert order is not None
    assert (order.order_id, order.items, order.amount_cents, order.status) == (
        "ORD-1001", ("Trail hiking boots ($129.00)",), 12900, "delivered")
    assert (order.placed_at, order.delivered_at) == ("2026-10-02", "2026-10-06")
    assert (order.refunded_cents, order.earlier_refunds) == (0, ())
    assert order.shipping_address == "12 Elm Street, Springfield"
    assert pending.effect == ("Refunds $129.00, the full amount still refundable on ORD-1001 "
                              "(order total $129.00)")
    assert pending.policy == POLICY_TEXT["Returns and refunds"]
    assert pending.edit_fields == (
        EditField("amount", "Amount to refund", "money", None, 129.0,
                  "Leave empty to refund everything still refundable ($129.00)"),
        EditField("reason", "Reason", "text", "the boots leak", None,
                  "Why the customer asks for it"),
    )
    no_order_number_to_edit(pending)
    assert pending.in_words == "a refund of $129.00 on ORD-1001"
    # The customer's reason, not their whole message.
    assert pending.arguments["reason"] == "the boots leak"
    # What was there before still is.
    assert pending.summary == ("Refund all ($129.00) of ORD-1001 (Trail hiking boots, $129.00, "
                               "delivered; $129.00 refundable)")


def test_a_partial_refund_card_lists_the_earlier_refunds(desk: SupportDesk) -> None:
    """A second refund on an order shows the first (amount, date, reference, reason) and
    what is left, which is also the most an edit may refund."""
    first = waiting(desk, "Please refund $20 on ORD-1001, the left boot leaks")
    collect(desk.decide_approval("sam", first.thread_id, {"action": "approve"},
                                 interrupt_id=first.interrupt_id))
    [entry] = desk.shop.ledger(order_id="ORD-1001")
    pending = waiting(desk, "Please refund $20 on ORD-1001 - the right one leaks too")
    order = pending.order
    assert order is not None and order.refunded_cents == 2000
    day = datetime.fromtimestamp(entry.created_at, UTC).date().isoformat()
    assert order.earlier_refunds == (
        f"$20.00 on {day} ({reference(entry.idempotency_key)}): the left boot leaks",)
    assert re.fullmatch(r"\$20\.00 on \d{4}-\d\d-\d\d \(REF-[0-9A-F]{8}\): the left boot leaks",
                        order.earlier_refunds[0])
    assert pending.effect == "Refunds $20.00 of the $109.00 still refundable on ORD-1001"
    assert pending.in_words == "a partial refund of $20.00 on ORD-1001"
    [amount, reason] = pending.edit_fields
    assert (amount.kind, amount.value, amount.maximum) == ("money", 20.0, 109.0)
    assert reason.value == "the right one leaks too"


def test_a_full_refund_of_what_is_left_says_so(desk: SupportDesk) -> None:
    """After a partial refund, 'refund the rest' is the full amount still refundable."""
    first = waiting(desk, "refund $29 on ORD-1001")
    collect(desk.decide_approval("sam", first.thread_id, {"action": "approve"}))
    pending = waiting(desk, "refund ORD-1001")
    assert pending.effect == ("Refunds $100.00, the full amount still refundable on ORD-1001 "
                              "(order total $129.00)")
    assert pending.in_words == "a refund of $100.00 on ORD-1001"
    assert pending.arguments.get("reason", "") == ""  # no reason given, none invented


def test_a_cancellation_card(desk: SupportDesk) -> None:
    """Every item with its quantity and price, the money that goes back, the cancellation
    policy, and only the reason to edit."""
    pending = waiting(desk, "I want to cancel ORD-1003 because I ordered the wrong size")
    order = pending.order
    assert order is not None
    assert order.items == ("Two-person tent ($210.00)", "2 x Aluminium tent stakes ($30.00)")
    assert (order.status, order.delivered_at) == ("processing", None)
    assert pending.effect == "Cancels ORD-1003 and refunds $240.00"
    assert pending.policy == POLICY_TEXT["Cancellations"]
    assert pending.edit_fields == (EditField("reason", "Reason", "text",
                                             "I ordered the wrong size", None,
                                             "Why the customer asks for it"),)
    assert pending.in_words == "cancelling ORD-1003"


def test_an_address_change_card(desk: SupportDesk) -> None:
    """Old and new address side by side, the address policy, the new address to edit."""
    pending = waiting(desk, "Please change the address of ORD-1003 to 5 Elm St")
    assert pending.effect == "Ships ORD-1003 to 5 Elm St instead of 12 Elm Street, Springfield"
    assert pending.policy == POLICY_TEXT["Changing the shipping address"]
    assert pending.edit_fields == (EditField("new_address", "New shipping address", "text",
                                             "5 Elm St", None, "The full new address"),)
    no_order_number_to_edit(pending)
    assert pending.in_words == "a new shipping address for ORD-1003"


def test_a_card_that_can_no_longer_succeed_says_approving_does_nothing(
        desk: SupportDesk) -> None:
    """Two requests to refund everything: once one is approved, the other's card says why
    approving it would do nothing, instead of promising a refund."""
    first = waiting(desk, "Please refund ORD-1001, the boots leak")
    second = waiting(desk, "Please refund ORD-1001, they really leak")
    assert second.effect.startswith("Refunds $129.00")
    collect(desk.decide_approval("sam", first.thread_id, {"action": "approve"}))
    [again] = desk.pending_approvals("sam")
    assert again.interrupt_id == second.interrupt_id
    why = ("ORD-1001 has been refunded in full already ($129.00), so there is nothing left to "
           "refund.")
    assert again.ineligible == why
    assert again.effect == f"Approving does nothing: {why}"
    assert again.order is not None and len(again.order.earlier_refunds) == 1
    [amount, _] = again.edit_fields
    assert amount.maximum == 0.0


# --- a tool of its own: one module, sensible defaults -----------------------------------------


class VoucherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=40, description="Order number")
    amount: float = Field(gt=0, le=50, description="Dollars on the voucher")
    note: str = Field(default="", max_length=2000, title="Note to the customer")


def send_voucher(context: ToolContext, args: VoucherArgs) -> str:
    """Say what would be sent (the test needs no side effect)."""
    return f"Sent a ${args.amount:.2f} voucher for {args.order_id}."


def recognise_voucher(request: Request) -> Intent | None:
    """'a voucher for ORD-1001'."""
    if "voucher" in request.lowered and request.order_id:
        return Intent(tool="send_voucher", args={"order_id": request.order_id, "amount": 10})
    return None


VOUCHER = SupportTool("send_voucher", "Send a goodwill voucher for an order.", VoucherArgs,
                      send_voucher, sensitive=True, label="Voucher",
                      offline=OfflineHints(priority=4, recognise=recognise_voucher))


def test_a_new_tool_gets_a_card_from_its_schema_alone(
        make_settings: Callable[..., Settings]) -> None:
    """No hooks: fields, labels, kinds, wording and policy all come from defaults."""
    with registry.registered(VOUCHER), SupportDesk.open(make_settings("sqlite")) as desk:
        pending = waiting(desk, "Could I have a voucher for ORD-1001?")
    assert pending.label == "Voucher"
    assert pending.order is not None and pending.order.order_id == "ORD-1001"
    assert pending.edit_fields == (
        EditField("amount", "Amount", "money", 10, None, "Dollars on the voucher"),
        EditField("note", "Note to the customer", "long_text", "", None, ""),
    )
    assert pending.in_words == "a voucher for ORD-1001"
    assert pending.effect == pending.summary == ("Voucher on ORD-1001 (Trail hiking boots, "
                                                 "$129.00, delivered)")
    assert pending.policy == ""  # no policy entry is about vouchers: none is made up


def test_a_request_for_a_tool_that_is_gone_still_renders(
        make_settings: Callable[..., Settings]) -> None:
    """A checkpoint may name a tool this version no longer has: shown, not crashed on."""
    with registry.registered(VOUCHER), SupportDesk.open(make_settings("sqlite")) as desk:
        assert desk.ask("alice", "a voucher for ORD-1001 please").status == "awaiting_approval"
    # The app restarts without the tool; the request waits in the same database.
    with SupportDesk.open(make_settings("sqlite")) as desk:
        [pending] = desk.pending_approvals("sam")
    assert (pending.action, pending.label) == ("send_voucher", "send_voucher")
    assert pending.order is not None and pending.order.items == ("Trail hiking boots ($129.00)",)
    assert pending.edit_fields == ()
    assert "no longer has a tool called send_voucher" in pending.effect
    assert pending.in_words == "your request about ORD-1001"
    assert pending.policy == ""


def test_wording_hooks_that_trip_on_odd_arguments_fall_back(
        make_settings: Callable[..., Settings]) -> None:
    """A tool's own wording that raises is replaced by the generic one, never an error."""
    def broken(args: dict, order: Order | None) -> str:
        raise KeyError("amount")

    tool = SupportTool("send_voucher", "Send a voucher.", VoucherArgs, send_voucher,
                       label="Voucher", effect=broken, in_words=broken, describe=broken,
                       edit_form=broken)
    persistence = open_persistence(make_settings("sqlite"))
    try:
        told = tool.explain(Shop(persistence.db), Customer("acme", "alice"),
                            {"order_id": "ORD-1001", "amount": 5})
    finally:
        persistence.close()
    assert told.summary == told.effect == "Voucher"
    assert told.in_words == "a voucher for ORD-1001"
    assert [field.name for field in told.fields] == ["amount", "note"]
