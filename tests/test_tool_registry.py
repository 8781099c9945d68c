"""Tools describe themselves once: a tool registered from here is offered, run and approved."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agent.domain.shop import Order, money
from agent.service import TurnEndedEvent
from agent.settings import load_settings
from agent.tools import registry
from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.intents import Intent, Request

SENT: list[tuple[str, str]] = []


class GiftCardArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=40, description="Order number")


def send_gift_card(context: ToolContext, args: GiftCardArgs) -> str:
    """Record the card (once per call) and say what was sent."""
    SENT.append((context.idempotency_key, args.order_id))
    return f"Sent a $10.00 gift card for {args.order_id}."


def recognise_gift_card(request: Request) -> Intent | None:
    """'a gift card for ORD-1001'."""
    if re.search(r"\bgift card\b", request.lowered) and request.order_id:
        return Intent(tool="send_gift_card", args={"order_id": request.order_id})
    return None


def describe_gift_card(args: dict, order: Order | None) -> str:
    """A $10 card, with the order it is for."""
    if order is None:
        return f"$10.00 gift card for {args.get('order_id')}"
    return (f"$10.00 gift card for {order.order_id} ({order.description}, "
            f"{money(order.amount_cents)}, {order.status})")


def eligible_for_gift_card(order: Order, args: dict) -> str | None:
    """Only delivered orders earn a card."""
    return None if order.status == "delivered" else f"{order.order_id} is not delivered yet"


def gift_card_tool(sensitive: bool) -> SupportTool:
    """The test's tool, sensitive or not."""
    return SupportTool(
        "send_gift_card", "Send the customer a $10 gift card as an apology for an order.",
        GiftCardArgs, send_gift_card, sensitive=sensitive, label="Gift card",
        describe=describe_gift_card, eligibility=eligible_for_gift_card,
        offline=OfflineHints(priority=5, recognise=recognise_gift_card),
    )


@pytest.fixture
def gift_card(request: pytest.FixtureRequest):
    """The gift-card tool registered for one test, removed afterwards."""
    SENT.clear()
    with registry.registered(gift_card_tool(request.param)) as tool:
        yield tool


@pytest.mark.parametrize("gift_card", [True], indirect=True)
def test_a_registered_sensitive_tool_is_offered_run_and_approved(gift_card, make_settings):
    """Offered to the model, routed through approval, described to the supervisor, then run."""
    from agent.service import SupportDesk

    assert gift_card.name in registry.names()
    assert gift_card.spec() in registry.specs()
    settings = make_settings("sqlite")
    assert "send_gift_card" in settings.approval_required
    with SupportDesk.open(settings) as desk:
        result = desk.ask("alice", "I'd like a gift card for ORD-1001 please")
        assert result.status == "awaiting_approval"
        assert SENT == []
        [pending] = desk.pending_approvals("sam")
        assert pending.action == "send_gift_card"
        assert pending.label == "Gift card"
        assert pending.summary == "$10.00 gift card for ORD-1001 (Trail hiking boots, $129.00, " \
                                  "delivered)"
        assert pending.ineligible == ""
        events = list(desk.decide_approval("sam", result.thread_id, {"action": "approve"},
                                           interrupt_id=pending.interrupt_id))
        assert isinstance(events[-1], TurnEndedEvent)
        assert "Sent a $10.00 gift card for ORD-1001." in events[-1].reply
        assert [order for _, order in SENT] == ["ORD-1001"]


@pytest.mark.parametrize("gift_card", [False], indirect=True)
def test_a_registered_safe_tool_runs_without_approval(gift_card, make_settings):
    """A safe tool from a test module runs in the same turn, no supervisor involved."""
    from agent.service import SupportDesk

    settings = make_settings("sqlite")
    assert "send_gift_card" not in settings.approval_required
    with SupportDesk.open(settings) as desk:
        result = desk.ask("alice", "a gift card for ORD-1001?")
        assert result.status == "active"
        assert "Sent a $10.00 gift card for ORD-1001." in result.reply
        assert desk.pending_approvals("sam") == []
    assert len(SENT) == 1


def test_approval_required_names_only_registered_tools():
    """Settings validate against the registry, and default to its sensitive tools."""
    assert set(load_settings(saver="memory").approval_required) == set(registry.sensitive_names())
    with pytest.raises(Exception, match="unknown tool nope"):
        load_settings(saver="memory", approval_required="nope")


def test_built_in_sensitive_requests_are_described_with_the_order(make_settings):
    """A supervisor sees the amount, the item and the status of the order a request is for."""
    from agent.service import SupportDesk

    with SupportDesk.open(make_settings("sqlite")) as desk:
        desk.ask("alice", "Please refund $20 on ORD-1001, the boots leak")
        [pending] = desk.pending_approvals("sam")
        assert pending.label == "Refund"
        assert pending.summary == ("Refund $20.00 of ORD-1001 (Trail hiking boots, $129.00, "
                                   "delivered; $129.00 refundable)")
        assert pending.ineligible == ""


def test_registering_a_second_tool_with_the_same_name_is_refused():
    """Names are the registry's key: a clash is a programming error, said at once."""
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("issue_refund"))
