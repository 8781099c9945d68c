"""The shop's rules, as pure functions of an order and a request.

The shop's side effects (agent/domain/shop.py) enforce them under the order's row lock, and the
tools (agent/tools/) check them before a request goes to a supervisor, so that a request that
can never succeed is refused at once. Both read the same functions here, so they cannot drift
apart. Each refusal names the order and says what the customer can do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # shop.py imports this module: only the types are needed here
    from agent.domain.shop import Order

MAX_ADDRESS_CHARS = 200


def money(cents: int) -> str:
    """Format cents as dollars, e.g. 5450 -> '$54.50'."""
    return f"${cents / 100:,.2f}"


def refundable_cents(order: Order) -> int:
    """What can still be refunded on an order: what was paid minus what went back already."""
    return max(order.amount_cents - order.refunded_cents, 0)


def refund_refusal(order: Order, cents: int | None) -> str | None:
    """Why refunding `cents` (None: everything left) of the order cannot happen, or None."""
    if order.status == "processing":
        return (f"{order.order_id} has not shipped yet, so there is nothing to refund; it can be "
                "cancelled instead.")
    if order.status == "cancelled":
        return (f"{order.order_id} was cancelled and refunded in full already, so there is "
                "nothing left to refund.")
    remaining = refundable_cents(order)
    if remaining <= 0:
        return (f"{order.order_id} has been refunded in full already "
                f"({money(order.refunded_cents)}), so there is nothing left to refund.")
    if cents is None:
        return None
    if cents <= 0:
        return (f"A refund on {order.order_id} must be a positive amount: ask for up to "
                f"{money(remaining)}, or for everything that is left.")
    if cents > remaining:
        return (f"A refund of {money(cents)} is more than the {money(remaining)} still "
                f"refundable on {order.order_id} (order total {money(order.amount_cents)}); "
                f"ask for {money(remaining)} or less.")
    return None


_CANCEL_ADVICE = {
    "shipped": "it is already on its way; once it arrives it can be returned for a refund",
    "delivered": "it was delivered; ask for a refund instead",
    "cancelled": "it is cancelled already",
}


def cancel_refusal(order: Order) -> str | None:
    """Why the order cannot be cancelled, or None: only orders not yet shipped can be."""
    if order.status == "processing":
        return None
    advice = _CANCEL_ADVICE.get(order.status, f"it is {order.status}")
    return f"{order.order_id} cannot be cancelled: {advice}."


def tidy_address(address: str) -> str:
    """An address with its whitespace tidied ("5  Elm St,\\nTown" -> "5 Elm St, Town")."""
    return " ".join(address.split())


def address_refusal(order: Order, new_address: str) -> str | None:
    """Why the order cannot be sent to `new_address`, or None."""
    address = tidy_address(new_address)
    if not address:
        return (f"The new address for {order.order_id} is empty; please write it in full, "
                "starting with the house number.")
    if len(address) > MAX_ADDRESS_CHARS:
        return (f"The new address for {order.order_id} is longer than {MAX_ADDRESS_CHARS} "
                "characters; please shorten it.")
    if order.status != "processing":
        advice = ("the carrier can redirect the parcel" if order.status == "shipped"
                  else "ask us for help with it")
        return (f"{order.order_id} is {order.status} already, so its address can no longer be "
                f"changed here; {advice}.")
    # Capitals and spacing aside it is the same address: a change would change nothing.
    if address.casefold() == tidy_address(order.shipping_address).casefold():
        return f"{order.order_id} already ships to {order.shipping_address}; nothing to change."
    return None
