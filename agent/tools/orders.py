"""Safe tools that read the customer's orders."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.shop import money
from agent.tools.base import OfflineHints, SupportTool, ToolContext, named_order
from agent.tools.intents import Intent, Request
from agent.tools.registry import register

ORDER_ID = Field(min_length=1, max_length=40, description="Order number, e.g. ORD-1001")


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = ORDER_ID


def list_orders(context: ToolContext, _: NoArgs) -> str:
    """One line per order of the signed-in customer."""
    orders = context.shop.list_orders(context.customer)
    if not orders:
        return "You have no orders yet."
    return "\n".join(
        f"{order.order_id} ({order.placed_at}): {order.description}, "
        f"{money(order.amount_cents)}, {order.status}"
        for order in orders
    )


def get_order_status(context: ToolContext, args: OrderArgs) -> str:
    """Status, carrier, tracking, address and refunds of one order."""
    order = context.shop.get_order(context.customer, args.order_id)
    parts = [f"{order.order_id} ({order.description}, {money(order.amount_cents)}) is "
             f"{order.status}"]
    if order.carrier and order.status in ("shipped", "delivered"):
        parts.append(f"via {order.carrier}, tracking number {order.tracking_number}")
    parts.append(f"shipping to {order.shipping_address}")
    text = ", ".join(parts) + "."
    if order.refunded_cents:
        text += f" Refunded so far: {money(order.refunded_cents)}."
    return text


def recognise_order_question(request: Request) -> Intent | None:
    """Any message naming an order that no more specific tool took ("where is ORD-1002?")."""
    if request.order_id:
        return Intent(tool="get_order_status", args={"order_id": request.order_id})
    return None


def recognise_order_list(request: Request) -> Intent | None:
    """'List my orders', 'where is my package?'."""
    if re.search(r"\b(my|all) orders\b|\border history\b|\bpurchases\b"
                 r"|\bwhat (did|have) i (buy|bought|order)|\blist\b.*\borders?\b"
                 r"|\bwhere('?s| is) my (order|package|parcel)\b|\btrack", request.lowered):
        return Intent(tool="list_orders", args={})
    return None


def word_order_list(text: str) -> str:
    """A bulleted list when there are orders; the tool's own words otherwise."""
    lines = text.splitlines()
    if len(lines) > 1 or lines[0].startswith("ORD-"):
        return "Here are your orders:\n" + "\n".join(f"- {line}" for line in lines)
    return text


def _asked_about(request: Request, args: dict[str, Any]) -> str | None:
    return f"The customer asked about {args['order_id']}." if args.get("order_id") else None


LIST_ORDERS = register(SupportTool(
    "list_orders", "List the signed-in customer's orders with their status.", NoArgs, list_orders,
    label="Order list",
    offline=OfflineHints(priority=60, recognise=recognise_order_list,
                         word_result=word_order_list),
    progress=lambda args: "Looking up your orders",
))
GET_ORDER_STATUS = register(SupportTool(
    "get_order_status",
    "Look up the status, carrier, tracking number and shipping address of one order.",
    OrderArgs,
    get_order_status,
    label="Order status",
    offline=OfflineHints(priority=50, recognise=recognise_order_question,
                         note_request=_asked_about),
    progress=lambda args: (f"Checking order {named_order(args)}" if named_order(args)
                           else "Checking your order"),
))
