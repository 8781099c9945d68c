"""Sensitive tools: refunds, cancellations and address changes (approved by a supervisor)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.tools.base import SupportTool, ToolContext
from agent.tools.orders import ORDER_ID

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


ISSUE_REFUND = SupportTool(
    "issue_refund", "Refund part or all of a shipped or delivered order.", RefundArgs, issue_refund
)
CANCEL_ORDER = SupportTool(
    "cancel_order", "Cancel an order that has not shipped yet.", CancelArgs, cancel_order
)
CHANGE_SHIPPING_ADDRESS = SupportTool(
    "change_shipping_address",
    "Change the shipping address of an order that has not shipped yet.",
    AddressArgs,
    change_shipping_address,
)
