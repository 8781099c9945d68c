"""Requests that can never succeed are refused before a supervisor is asked, and the customer
is told why; the tools and the shop refuse with the same rule, in the same words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.domain import rules
from agent.domain.shop import Customer, Order, Shop, ShopRuleError
from agent.persistence.savers import open_persistence
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.tools import TOOLS, ToolContext

ALICE = Customer("acme", "alice")
ERIN = Customer("globex", "erin")


def order(status: str = "delivered", amount: int = 12900, refunded: int = 0,
          address: str = "12 Elm Street, Springfield") -> Order:
    """An order as the shop would read it (the rules are pure: no database needed)."""
    return Order("ORD-1001", "acme", "alice", [{"name": "Boots", "qty": 1, "price_cents": amount}],
                 amount, "USD", status, None, None, address, "2026-10-02", refunded)


# --- the rules, as pure functions ----------------------------------------------------------------


@pytest.mark.parametrize(("the_order", "cents", "expected"), [
    (order(), None, None),
    (order(), 12900, None),
    (order(refunded=2000), 10900, None),
    (order(status="shipped"), 100, None),
    (order(refunded=12900), None,
     "ORD-1001 has been refunded in full already ($129.00), so there is nothing left to refund."),
    (order(refunded=12900), 500,
     "ORD-1001 has been refunded in full already ($129.00), so there is nothing left to refund."),
    (order(refunded=2000), 11000,
     "A refund of $110.00 is more than the $109.00 still refundable on ORD-1001 (order total "
     "$129.00); ask for $109.00 or less."),
    (order(status="processing"), None,
     "ORD-1001 has not shipped yet, so there is nothing to refund; it can be cancelled instead."),
    (order(status="cancelled"), None,
     "ORD-1001 was cancelled and refunded in full already, so there is nothing left to refund."),
    (order(), 0, "A refund on ORD-1001 must be a positive amount: ask for up to $129.00, or for "
                 "everything that is left."),
])
def test_refund_rule(the_order: Order, cents: int | None, expected: str | None) -> None:
    """Shipped or delivered, money left, a positive amount no larger than what is left."""
    assert rules.refund_refusal(the_order, cents) == expected


@pytest.mark.parametrize(("status", "advice"), [
    ("shipped", "ORD-1001 cannot be cancelled: it is already on its way; once it arrives it can "
                "be returned for a refund."),
    ("delivered", "ORD-1001 cannot be cancelled: it was delivered; ask for a refund instead."),
    ("cancelled", "ORD-1001 cannot be cancelled: it is cancelled already."),
    ("processing", None),
])
def test_cancel_rule(status: str, advice: str | None) -> None:
    """Only an order that has not shipped can be cancelled; otherwise, what to do instead."""
    assert rules.cancel_refusal(order(status=status)) == advice


@pytest.mark.parametrize(("status", "address", "expected"), [
    ("processing", "5 Elm St", None),
    ("processing", "12 elm street,   Springfield", "ORD-1001 already ships to 12 Elm Street, "
                                                  "Springfield; nothing to change."),
    ("processing", " \n ", "The new address for ORD-1001 is empty; please write it in full, "
                           "starting with the house number."),
    ("processing", "x" * 201, "The new address for ORD-1001 is longer than 200 characters; "
                              "please shorten it."),
    ("shipped", "5 Elm St", "ORD-1001 is shipped already, so its address can no longer be "
                            "changed here; the carrier can redirect the parcel."),
    ("delivered", "5 Elm St", "ORD-1001 is delivered already, so its address can no longer be "
                              "changed here; ask us for help with it."),
])
def test_address_rule(status: str, address: str, expected: str | None) -> None:
    """Not shipped yet, and a real change to a usable address."""
    assert rules.address_refusal(order(status=status), address) == expected


# --- the tools refuse exactly what the shop would refuse -------------------------------------


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    """The shop on a real SQLite file."""
    persistence = open_persistence(make_settings("sqlite"))
    try:
        yield Shop(persistence.db)
    finally:
        persistence.close()


REFUSED: list[tuple[Customer, str, dict[str, Any], str]] = [
    (ALICE, "issue_refund", {"order_id": "ORD-1001", "amount": 200}, "more than the $129.00"),
    (ALICE, "issue_refund", {"order_id": "ORD-1003"}, "has not shipped yet"),
    (ERIN, "issue_refund", {"order_id": "ORD-2102"}, "was cancelled"),
    (ALICE, "issue_refund", {"order_id": "ORD-1101"}, "There is no order ORD-1101 on your account"),
    (ALICE, "issue_refund", {"order_id": "ORD-9999"}, "There is no order ORD-9999 on your account"),
    (ALICE, "issue_refund", {"order_id": "ORD-1001", "amount": "lots"},
     "'lots' is not an amount of money"),
    (ALICE, "issue_refund", {"order_id": "ORD-1001", "amount": -5}, "must be a positive amount"),
    (ALICE, "cancel_order", {"order_id": "ORD-1002"}, "cannot be cancelled"),
    (ALICE, "cancel_order", {"order_id": "ORD-1001"}, "ask for a refund instead"),
    (ALICE, "change_shipping_address", {"order_id": "ORD-1002", "new_address": "5 Elm St"},
     "can no longer be changed"),
    (ALICE, "change_shipping_address",
     {"order_id": "ORD-1003", "new_address": "12 Elm Street, Springfield"}, "already ships to"),
]


@pytest.mark.parametrize(("customer", "name", "arguments", "why"), REFUSED,
                         ids=[f"{n}-{a}" for _, n, a, _ in REFUSED])
def test_a_refused_request_is_refused_by_the_shop_in_the_same_words(
        shop: Shop, customer: Customer, name: str, arguments: dict, why: str) -> None:
    """tool.refusal says why; running it anyway fails with the very same sentence."""
    tool = TOOLS[name]
    refusal = tool.refusal(shop, customer, arguments)
    assert refusal is not None and why in refusal
    if not isinstance(arguments.get("amount", 0), str) and arguments.get("amount", 1) > 0:
        # Arguments the schema accepts reach the shop, whose rule is the tool's rule.
        with pytest.raises(ShopRuleError) as refused:
            tool.run(ToolContext(shop, customer, "t", "c"), arguments)
        assert str(refused.value) == refusal
    assert shop.ledger() == []


def test_someone_elses_order_is_refused_without_saying_whose(shop: Shop) -> None:
    """Alice naming Bob's order is told what she would be told of an order that does not exist."""
    theirs = TOOLS["issue_refund"].refusal(shop, ALICE, {"order_id": "ORD-1101"})
    missing = TOOLS["issue_refund"].refusal(shop, ALICE, {"order_id": "ORD-9999"})
    assert theirs == missing.replace("ORD-9999", "ORD-1101")
    for secret in ("bob", "Bob", "daypack", "Harbour", "89"):
        assert secret not in theirs


@pytest.mark.parametrize(("name", "arguments"), [
    ("issue_refund", {"order_id": "ORD-1001"}),
    ("issue_refund", {"order_id": " ord-1001", "amount": 129, "reason": "leaks"}),
    ("issue_refund", {"order_id": "ORD-1002", "amount": "20.50"}),
    ("cancel_order", {"order_id": "ORD-1003", "reason": "wrong size"}),
    ("change_shipping_address", {"order_id": "ORD-1003", "new_address": "5 Elm St"}),
])
def test_a_request_that_can_succeed_is_not_refused(shop: Shop, name: str,
                                                   arguments: dict) -> None:
    """Everything the rules allow goes on to a supervisor."""
    assert TOOLS[name].refusal(shop, ALICE, arguments) is None


@pytest.mark.parametrize(("arguments", "why"), [
    ({"order_id": "ORD-1001", "amount": True}, "True is not an amount of money"),
    ({"order_id": "ORD-1001", "amount": float("nan")}, "not an amount of money"),
    ({"order_id": "ORD-1001", "amount": [20]}, "not an amount of money"),
    ({"order_id": "ORD-1001", "surprise": 1}, "surprise"),
    ({"amount": 5}, "order_id"),
    ({"order_id": 1001}, "order_id"),
])
def test_malformed_requests_are_refused(shop: Shop, arguments: dict, why: str) -> None:
    """Whatever a model sends, the answer is a sentence, never an exception."""
    refusal = TOOLS["issue_refund"].refusal(shop, ALICE, arguments)
    assert refusal is not None and why in refusal


def test_the_refusal_follows_the_ledger(shop: Shop) -> None:
    """Once an order is refunded in full, a further refund is refused; before, it was not."""
    refund = TOOLS["issue_refund"]
    assert refund.refusal(shop, ALICE, {"order_id": "ORD-1002", "amount": 54.5}) is None
    refund.run(ToolContext(shop, ALICE, "t", "c1"), {"order_id": "ORD-1002", "amount": 50})
    assert "more than the $4.50 still refundable" in refund.refusal(
        shop, ALICE, {"order_id": "ORD-1002", "amount": 5})
    refund.run(ToolContext(shop, ALICE, "t", "c2"), {"order_id": "ORD-1002"})
    assert "refunded in full already ($54.50)" in refund.refusal(
        shop, ALICE, {"order_id": "ORD-1002"})


# --- through the real graph: refused before the inbox, and the customer is told ---------------


@pytest.fixture
def sqlite_desk(make_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    """A SupportDesk on a real SQLite file."""
    with SupportDesk.open(make_settings("sqlite")) as desk:
        yield desk


def refused_turn(desk: SupportDesk, user: str, message: str, expected: str) -> None:
    """Send the message; the reply says `expected` and nothing waits or changes."""
    supervisor = "sam" if user in ("alice", "bob", "carol") else "gina"
    ledger = desk.ledger(supervisor)
    result = desk.ask(user, message)
    assert result.status == "active", result.reply
    assert expected in result.reply
    assert result.pending_approvals == []
    assert desk.pending_approvals(supervisor) == []
    view = desk.view_thread(user, result.thread_id)
    assert view.pending_approvals == [] and view.thread.status == "active"
    assert desk.ledger(supervisor) == ledger
    # The call was answered as an error: the history shows the attempt and why it failed.
    [answer] = [m for m in view.messages if m.role == "tool"]
    assert not answer.ok and expected in answer.text


@pytest.mark.parametrize(("user", "message", "expected"), [
    ("alice", "Please refund $200 on ORD-1001, the boots leak",
     rules.refund_refusal(order(), 20000)),
    ("alice", "Please refund ORD-1003, I changed my mind",
     rules.refund_refusal(order(status="processing"), None).replace("ORD-1001", "ORD-1003")),
    ("erin", "refund ORD-2102 please",
     rules.refund_refusal(order(status="cancelled"), None).replace("ORD-1001", "ORD-2102")),
    ("alice", "Please refund ORD-1101, the daypack tore",
     "There is no order ORD-1101 on your account"),
    ("alice", "cancel ORD-1002 because it is late",
     rules.cancel_refusal(order(status="shipped")).replace("ORD-1001", "ORD-1002")),
    ("alice", "change the address of ORD-1002 to 5 Elm St",
     rules.address_refusal(order(status="shipped"), "5 Elm St").replace("ORD-1001", "ORD-1002")),
    ("alice", "change the address of ORD-1003 to 12 Elm Street, Springfield",
     "ORD-1003 already ships to 12 Elm Street, Springfield; nothing to change."),
], ids=["above-remaining", "not-shipped", "cancelled", "someone-elses", "cancel-shipped",
        "address-shipped", "address-unchanged"])
def test_a_request_that_can_never_succeed_never_reaches_the_inbox(
        sqlite_desk: SupportDesk, user: str, message: str, expected: str) -> None:
    """The agent refuses it in the same turn and says why; no supervisor is asked."""
    refused_turn(sqlite_desk, user, message, expected)


def test_someone_elses_order_is_refused_without_a_word_about_it(
        sqlite_desk: SupportDesk) -> None:
    """The customer's reply says nothing about whose order it is or what it holds."""
    reply = sqlite_desk.ask("alice", "Please refund ORD-1101").reply
    assert "There is no order ORD-1101 on your account" in reply
    for secret in ("bob", "Bob", "daypack", "Harbour", "$89"):
        assert secret not in reply


def test_a_refund_of_a_fully_refunded_order_is_refused(sqlite_desk: SupportDesk) -> None:
    """After a full refund was approved and made, asking again is refused at once."""
    desk = sqlite_desk
    first = desk.ask("alice", "Please refund ORD-1001, the boots leak")
    assert first.status == "awaiting_approval"
    done = collect(desk.decide_approval("sam", first.thread_id, {"action": "approve"}))
    assert "Refunded $129.00 on ORD-1001" in done.reply
    for message in ("Please refund ORD-1001, the boots leak", "refund $5 on ORD-1001"):
        refused_turn(desk, "alice", message, "ORD-1001 has been refunded in full already "
                                             "($129.00), so there is nothing left to refund.")
    assert [entry["amount_cents"] for entry in desk.ledger("sam")] == [12900]
