"""Safe tools that read the customer's orders."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.shop import money
from agent.tools.base import SupportTool, ToolContext

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


LIST_ORDERS = SupportTool(
    "list_orders", "List the signed-in customer's orders with their status.", NoArgs, list_orders
)
GET_ORDER_STATUS = SupportTool(
    "get_order_status",
    "Look up the status, carrier, tracking number and shipping address of one order.",
    OrderArgs,
    get_order_status,
)
