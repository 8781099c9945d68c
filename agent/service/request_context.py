"""What a supervisor reads on an approval card: the order, what approving does, the policy.

Built from the tool's own description of the request (agent/tools/base.py) and the shop's
records of the order, so that a new sensitive tool is described without a change here; an
action whose tool is no longer registered is still shown, with what can be known about it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from agent.domain.shop import (
    Customer,
    LedgerEntry,
    Order,
    Shop,
    ShopRuleError,
    money,
    reference,
)
from agent.tools import registry
from agent.views import EditField, OrderFacts

# Ledger kinds that gave money back.
_MONEY_BACK = {"refund": "", "cancellation": "order cancelled"}


@dataclass(frozen=True)
class RequestContext:
    """The parts of a `PendingApproval` that describe the request itself."""

    label: str
    summary: str
    ineligible: str
    order: OrderFacts | None
    effect: str
    policy: str
    edit_fields: tuple[EditField, ...]
    in_words: str
    editable_arguments: tuple[str, ...]


def request_context(shop: Shop, customer: Customer, action: str,
                    arguments: dict[str, Any]) -> RequestContext:
    """Everything a supervisor needs to decide `action` with `arguments` for this customer."""
    tool = registry.get(action)
    if tool is None:
        return _unregistered(shop, customer, action, arguments)
    told = tool.explain(shop, customer, arguments)
    return RequestContext(
        label=tool.title,
        summary=told.summary,
        ineligible=told.problem,
        order=order_facts(shop, told.order) if told.order is not None else None,
        effect=told.effect,
        policy=told.policy,
        edit_fields=tuple(EditField(**asdict(field)) for field in told.fields),
        in_words=told.in_words,
        editable_arguments=tuple(tool.args.model_fields),
    )


def _unregistered(shop: Shop, customer: Customer, action: str,
                  arguments: dict[str, Any]) -> RequestContext:
    """A request for a tool that is gone: shown as it stands, to approve or reject, not edit."""
    order = None
    order_id = arguments.get("order_id")
    if isinstance(order_id, str) and order_id.strip():
        try:
            order = shop.get_order(customer, order_id)
        except ShopRuleError:
            order = None
    return RequestContext(
        label=action,
        summary=action if order is None else f"{action} on {order.order_id}",
        ineligible="",
        order=order_facts(shop, order) if order is not None else None,
        effect=(f"Nothing: this app no longer has a tool called {action}, so approving only "
                "tells the customer it could not be done"),
        policy="",
        edit_fields=(),
        in_words=f"your request about {order.order_id}" if order else "your request",
        editable_arguments=tuple(arguments),
    )


def order_facts(shop: Shop, order: Order) -> OrderFacts:
    """The order as a supervisor checks it, with the refunds already made on it."""
    entries = shop.ledger(tenant=order.tenant, order_id=order.order_id)
    return OrderFacts(
        order_id=order.order_id,
        items=tuple(_item(item) for item in order.items),
        amount_cents=order.amount_cents,
        status=order.status,
        placed_at=order.placed_at,
        delivered_at=order.delivered_at,
        refunded_cents=order.refunded_cents,
        earlier_refunds=tuple(refund_line(entry) for entry in entries
                              if entry.kind in _MONEY_BACK and entry.amount_cents > 0),
        shipping_address=order.shipping_address,
    )


def refund_line(entry: LedgerEntry) -> str:
    """'$20.00 on 2026-11-20 (REF-1A2B3C4D): leaking'."""
    day = datetime.fromtimestamp(entry.created_at, UTC).date().isoformat()
    reason = str(entry.details.get("reason") or "").strip()
    why = "; ".join(part for part in (_MONEY_BACK[entry.kind], reason) if part)
    line = f"{money(entry.amount_cents)} on {day} ({reference(entry.idempotency_key)})"
    return f"{line}: {why}" if why else line


def _item(item: dict[str, Any]) -> str:
    """'Trail hiking boots ($129.00)', '2 x Aluminium tent stakes ($30.00)'."""
    qty = int(item.get("qty", 1))
    line_total = money(qty * int(item.get("price_cents", 0)))
    name = str(item.get("name", item.get("sku", "item")))
    return f"{name} ({line_total})" if qty == 1 else f"{qty} x {name} ({line_total})"
