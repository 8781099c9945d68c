"""Sensitive tools: refunds, cancellations and address changes (approved by a supervisor).

Whether a request can succeed is the shop's rule (agent/domain/rules.py), read here to refuse
it before a supervisor is asked and by the shop again when it runs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.rules import (
    address_refusal,
    cancel_refusal,
    refund_refusal,
    refundable_cents,
    tidy_address,
)
from agent.domain.shop import Order, ShopRuleError, money, to_cents
from agent.tools.base import (
    ArgumentField,
    OfflineHints,
    SupportTool,
    ToolContext,
    named_order,
    order_summary,
    schema_fields,
)
from agent.tools.intents import Intent, Request, amount_in, which_order
from agent.tools.orders import ORDER_ID
from agent.tools.registry import register

REASON = Field(default="", max_length=500, title="Reason",
               description="Why the customer asks for it")


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    amount: float | None = Field(
        default=None, gt=0, title="Amount to refund",
        description="Dollars to refund; omit to refund all that is left",
    )
    reason: str = REASON


class CancelArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    reason: str = REASON


class AddressArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID
    new_address: str = Field(min_length=1, max_length=200, title="New shipping address",
                             description="The full new address")


def issue_refund(context: ToolContext, args: RefundArgs) -> str:
    """Refund once per tool call: a replay finds the ledger row and answers the same."""
    return context.shop.issue_refund(context.customer, args.order_id, args.amount, args.reason,
                                     key=context.idempotency_key, thread_id=context.thread_id,
                                     audit=context.audit)


def cancel_order(context: ToolContext, args: CancelArgs) -> str:
    """Cancel once per tool call."""
    return context.shop.cancel_order(context.customer, args.order_id, args.reason,
                                     key=context.idempotency_key, thread_id=context.thread_id,
                                     audit=context.audit)


def change_shipping_address(context: ToolContext, args: AddressArgs) -> str:
    """Change the address once per tool call."""
    return context.shop.change_shipping_address(
        context.customer, args.order_id, args.new_address,
        key=context.idempotency_key, thread_id=context.thread_id, audit=context.audit,
    )


def _done(text: str) -> str:
    return f"Done. {text}"


def _asked(verb: str):
    def note(request: Request, args: dict[str, Any]) -> str | None:
        return f"The customer {verb} {args['order_id']}." if args.get("order_id") else None
    return note


def _order_id(args: dict[str, Any], order: Order | None) -> str:
    """The order a request is for, as people read it."""
    if order is not None:
        return order.order_id
    return named_order(args) or "the order"


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


def _asked_cents(args: dict[str, Any]) -> int | None:
    """The cents asked for (None: all that is left); ShopRuleError for a malformed amount."""
    amount = args.get("amount")
    if isinstance(amount, bool):  # True is a number to Python, not an amount to a person
        raise ShopRuleError(f"{amount!r} is not an amount of money")
    return to_cents(amount)


def _cents_or_none(args: dict[str, Any]) -> int | None:
    """The cents asked for, or None when none (or nothing valid) was asked for."""
    try:
        return _asked_cents(args)
    except ShopRuleError:
        return None


def describe_refund(args: dict[str, Any], order: Order | None) -> str:
    """'Refund $20.00 of ORD-1001 (boots, $129.00, delivered; $129.00 refundable)'."""
    cents = _cents_or_none(args)  # a malformed amount is the supervisor's to see, not a crash
    if order is None:
        what = money(cents) if cents else "all"
        return f"Refund {what} of {_order_id(args, order)}"
    remaining = refundable_cents(order)
    what = money(cents) if cents else f"all ({money(remaining)})"
    return f"Refund {what} of {order_summary(order)[:-1]}; {money(remaining)} refundable)"


def refund_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """The shop's refund rule: shipped or delivered, money left, no more than what is left."""
    try:
        cents = _asked_cents(args)
    except ShopRuleError as exc:
        return (f"{exc}: say how much of {order.order_id} to refund in dollars (e.g. 20 or "
                "20.50), or ask for everything that is left.")
    return refund_refusal(order, cents)


def refund_effect(args: dict[str, Any], order: Order | None) -> str:
    """'Refunds $20.00 of the $129.00 still refundable on ORD-1001', or the full amount."""
    cents, order_id = _cents_or_none(args), _order_id(args, order)
    if order is None:
        return (f"Refunds {money(cents)} on {order_id}" if cents
                else f"Refunds everything still refundable on {order_id}")
    remaining = refundable_cents(order)
    if cents is None or cents == remaining:
        return (f"Refunds {money(remaining)}, the full amount still refundable on {order_id} "
                f"(order total {money(order.amount_cents)})")
    return f"Refunds {money(cents)} of the {money(remaining)} still refundable on {order_id}"


def refund_in_words(args: dict[str, Any], order: Order | None) -> str:
    """'a refund of $129.00 on ORD-1001', 'a partial refund of $20.00 on ORD-1001'."""
    cents, order_id = _cents_or_none(args), _order_id(args, order)
    remaining = refundable_cents(order) if order is not None else None
    if cents is None or cents <= 0:
        cents = remaining or None
    if cents is None:
        return f"a refund on {order_id}"
    partial = "partial " if remaining is not None and cents < remaining else ""
    return f"a {partial}refund of {money(cents)} on {order_id}"


def refund_progress(args: dict[str, Any]) -> str:
    """'Preparing a refund of $20.00 on ORD-1001' (or 'a refund on ORD-1001')."""
    cents, order_id = _cents_or_none(args), named_order(args)
    what = f"a refund of {money(cents)}" if cents and cents > 0 else "a refund"
    return f"Preparing {what} on {order_id}" if order_id else f"Preparing {what}"


def refund_form(args: dict[str, Any], order: Order | None) -> tuple[ArgumentField, ...]:
    """Amount (at most what is left; empty means all of it) and reason."""
    cents = _cents_or_none(args)
    fields = []
    for field in schema_fields(RefundArgs, args):
        if field.name == "amount":
            remaining = refundable_cents(order) if order is not None else None
            field = replace(
                field, value=cents / 100 if cents else None,
                maximum=remaining / 100 if remaining is not None else None,
                help=(f"Leave empty to refund everything still refundable "
                      f"({money(remaining)})" if remaining is not None
                      else "Leave empty to refund everything still refundable"),
            )
        fields.append(field)
    return tuple(fields)


ISSUE_REFUND = register(SupportTool(
    "issue_refund", "Refund part or all of a shipped or delivered order.", RefundArgs,
    issue_refund, sensitive=True, label="Refund", describe=describe_refund,
    eligibility=refund_eligibility,
    offline=OfflineHints(priority=10, recognise=recognise_refund, word_result=_done,
                         remember_result=True,
                         note_request=_asked("asked for a refund on")),
    progress=refund_progress, effect=refund_effect, in_words=refund_in_words,
    policy_topic="Returns and refunds", edit_form=refund_form,
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
    return f"Cancel {order_summary(order) if order else _order_id(args, order)}"


def cancel_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """The shop's cancellation rule: only orders that have not shipped."""
    return cancel_refusal(order)


def cancel_effect(args: dict[str, Any], order: Order | None) -> str:
    """'Cancels ORD-1003 and refunds $240.00'."""
    order_id = _order_id(args, order)
    if order is None:
        return f"Cancels {order_id} and refunds what is left of its payment"
    remaining = refundable_cents(order)
    if remaining <= 0:
        return f"Cancels {order_id} (it was refunded in full already, so no money moves)"
    return f"Cancels {order_id} and refunds {money(remaining)}"


CANCEL_ORDER = register(SupportTool(
    "cancel_order", "Cancel an order that has not shipped yet.", CancelArgs, cancel_order,
    sensitive=True, label="Cancellation", describe=describe_cancel,
    eligibility=cancel_eligibility,
    offline=OfflineHints(priority=20, recognise=recognise_cancel, word_result=_done,
                         remember_result=True,
                         note_request=_asked("asked to cancel")),
    progress=lambda args: (f"Preparing to cancel {named_order(args)}" if named_order(args)
                           else "Preparing to cancel your order"),
    effect=cancel_effect,
    in_words=lambda args, order: f"cancelling {_order_id(args, order)}",
    policy_topic="Cancellations",
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


def _new_address(args: dict[str, Any]) -> str:
    address = args.get("new_address")
    return tidy_address(address) if isinstance(address, str) else ""


def describe_address_change(args: dict[str, Any], order: Order | None) -> str:
    """'Ship ORD-1003 (tent, $210.00, processing) to 5 Elm St instead of 1 Oak Rd'."""
    if order is None:
        return f"Ship {_order_id(args, order)} to {_new_address(args)}"
    return (f"Ship {order_summary(order)} to {_new_address(args)} instead of "
            f"{order.shipping_address}")


def address_eligibility(order: Order, args: dict[str, Any]) -> str | None:
    """The shop's address rule: not shipped yet, and a real change to a usable address."""
    address = args.get("new_address")
    if not isinstance(address, str):
        return f"The new address for {order.order_id} is missing; please write it in full."
    return address_refusal(order, address)


def address_effect(args: dict[str, Any], order: Order | None) -> str:
    """'Ships ORD-1003 to 5 Elm St instead of 12 Elm Street, Springfield'."""
    ships = f"Ships {_order_id(args, order)} to {_new_address(args)}"
    return f"{ships} instead of {order.shipping_address}" if order is not None else ships


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
    progress=lambda args: (f"Preparing a new shipping address for {named_order(args)}"
                           if named_order(args) else "Preparing a new shipping address"),
    effect=address_effect,
    in_words=lambda args, order: f"a new shipping address for {_order_id(args, order)}",
    policy_topic="Changing the shipping address",
))
