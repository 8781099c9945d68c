"""Sensitive tools: refunds, cancellations and address changes (approved by a supervisor)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.shop import Order, ShopRuleError, money, to_cents
from agent.tools.base import OfflineHints, SupportTool, ToolContext, order_summary
from agent.tools.intents import Intent, Request, amount_in, which_order
from agent.tools.orders import ORDER_ID
from agent.tools.registry import register

REASON = Field(default="", max_length=500, description="Why the customer asks for it")


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    amount: float | None = Field(
        default=None, gt=0, description="Dollars to refund; omit to refund all that is left"
    )
    reason: str = REASON


class CancelArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    reason: str = REASON


class AddressArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    new_address: str = Field(min_length=1, max_length=200, description="The full new address")


def issue_refund(context: ToolContext, args: RefundArgs) -> str:
    """Refund once per tool call: a replay finds the ledger row and answers the same."""
    return context.shop.issue_refund(context.customer, args.order_id, args.amount, args.reason,
                                     key=context.idempotency_key, thread_id=context.thread_id)


def cancel_order(context: ToolContext, args: CancelArgs) -> str:
    """Cancel once per tool call."""
    return context.shop.cancel_order(context.customer, args.order_id, args.reason,
                                     key=context.idempotency_key, thread_id=context.thread_id)


def change_shipping_address(context: ToolContext, args: AddressArgs) -> str:
    """Change the address once per tool call."""
    return context.shop.change_shipping_address(
        context.customer, args.order_id, args.new_address,
        key=context.idempotency_key, thread_id=context.thread_id,
    )


def _done(text: str) -> str:
    return f"Done. {text}"


def _asked(verb: str):
    def note(request: Request, args: dict[str, Any]) -> str | None:
        return f"The customer {verb} {args['order_id']}." if args.get("order_id") else None
    return note


# --- refunds ---------------------------------------------------------------------------------

def recognise_refund(request: Request) -> Intent | None:
    """'Please refund $20 on ORD-1001'."""
    if "refund" not in request.lowered or request.asks_policy:
        return None
    if not request.order_id:
        return Intent(reply=which_order("refund"))
    args: dict[str, Any] = {"order_id": request.order_id, "reason": request.reason}
    amount = amount_in(request.text)
    if amount is not None:
        args["amount"] = amount
    return Intent(tool="issue_refund", args=args)


def describe_refund(args: dict[str, Any], order: Order | None) -> str:
    """'Refund $20.00 of ORD-1001 (boots, $129.00, delivered; $129.00 refundable)'."""
    try:
        cents = to_cents(args.get("amount"))
    except ShopRuleError:  # a malformed amount is the supervisor's to see, not to crash on
        cents = None
    if order is None:
        what = money(cents) if cents else "all"
        return f"Refund {what} of {args.get('order_id')}"
    remaining = order.amount_cents - order.refunded_cents
    what = money(cents) if cents else f"all ({money(remaining)})"
    return f"Refund {what} of {order_summary(order)[:-1]}; {money(remaining)} refundable)"


def refund_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """Only shipped or delivered orders with money left on them can be refunded."""
    if order.status == "processing":
        return f"{order.order_id} has not shipped yet; it can be cancelled instead"
    if order.status == "cancelled" or order.amount_cents - order.refunded_cents <= 0:
        return f"{order.order_id} has been refunded in full already"
    return None


ISSUE_REFUND = register(SupportTool(
    "issue_refund", "Refund part or all of a shipped or delivered order.", RefundArgs,
    issue_refund, sensitive=True, label="Refund", describe=describe_refund,
    eligibility=refund_eligibility,
    offline=OfflineHints(priority=10, recognise=recognise_refund, word_result=_done,
                         remember_result=True,
                         note_request=_asked("asked for a refund on")),
))


# --- cancellations ---------------------------------------------------------------------------

def recognise_cancel(request: Request) -> Intent | None:
    """'Cancel ORD-1003'."""
    if not re.search(r"\bcancel", request.lowered) or request.asks_policy:
        return None
    if not request.order_id:
        return Intent(reply=which_order("cancel"))
    return Intent(tool="cancel_order", args={"order_id": request.order_id,
                                             "reason": request.reason})


def describe_cancel(args: dict[str, Any], order: Order | None) -> str:
    """'Cancel ORD-1003 (tent, $210.00, processing)'."""
    return f"Cancel {order_summary(order) if order else args.get('order_id')}"


def cancel_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """Only orders that have not shipped can be cancelled."""
    if order.status != "processing":
        return f"{order.order_id} is {order.status}; only orders not yet shipped can be cancelled"
    return None


CANCEL_ORDER = register(SupportTool(
    "cancel_order", "Cancel an order that has not shipped yet.", CancelArgs, cancel_order,
    sensitive=True, label="Cancellation", describe=describe_cancel,
    eligibility=cancel_eligibility,
    offline=OfflineHints(priority=20, recognise=recognise_cancel, word_result=_done,
                         remember_result=True,
                         note_request=_asked("asked to cancel")),
))


# --- address changes -------------------------------------------------------------------------

_ADDRESS = re.compile(r"\bto\s+(\d[^\n]*?)\s*[.!?]*$", re.IGNORECASE)


def recognise_address_change(request: Request) -> Intent | None:
    """'Please change the address of ORD-1003 to 5 Elm St'."""
    if ("address" not in request.lowered or request.asks_policy or not re.search(
            r"\b(change|update|new|wrong|moved|ship|send)\b", request.lowered)):
        return None
    order_id = request.order_id
    if not order_id:
        return Intent(reply=which_order("change the address of"))
    match = _ADDRESS.search(request.text)
    if not match:
        return Intent(reply=f"What is the new address for {order_id}? Please write it in "
                            "full, starting with the house number.")
    return Intent(tool="change_shipping_address",
                  args={"order_id": order_id, "new_address": match.group(1).strip()})


def describe_address_change(args: dict[str, Any], order: Order | None) -> str:
    """'Ship ORD-1003 (tent, $210.00, processing) to 5 Elm St instead of 1 Oak Rd'."""
    if order is None:
        return f"Ship {args.get('order_id')} to {args.get('new_address')}"
    return (f"Ship {order_summary(order)} to {args.get('new_address')} instead of "
            f"{order.shipping_address}")


def address_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """Only orders that have not shipped can be sent elsewhere."""
    if order.status != "processing":
        return f"{order.order_id} is {order.status}; its address can no longer be changed"
    return None


CHANGE_SHIPPING_ADDRESS = register(SupportTool(
    "change_shipping_address",
    "Change the shipping address of an order that has not shipped yet.",
    AddressArgs,
    change_shipping_address,
    sensitive=True, label="Address change", describe=describe_address_change,
    eligibility=address_eligibility,
    offline=OfflineHints(priority=30, recognise=recognise_address_change, word_result=_done,
                         remember_result=True,
                         note_request=_asked("asked to change the address of")),
))
