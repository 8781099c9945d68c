"""The support policy and FAQ, and a small keyword search over it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyEntry:
    topic: str
    text: str
    keywords: frozenset[str]


POLICY: tuple[PolicyEntry, ...] = (
    PolicyEntry(
        "Returns and refunds",
        "Items can be returned within 30 days of delivery for a full refund. Refunds go back to "
        "the original payment method within 3-5 business days. A refund can never exceed what "
        "was paid for the order. Orders that have not shipped are cancelled rather than refunded.",
        frozenset({"return", "returns", "refund", "refunds", "money", "back", "days", "30"}),
    ),
    PolicyEntry(
        "Cancellations",
        "An order can be cancelled while it is still processing. Once it has shipped it cannot be "
        "cancelled; ask for a return and refund after it arrives instead.",
        frozenset({"cancel", "cancellation", "cancelled", "canceled", "stop", "processing"}),
    ),
    PolicyEntry(
        "Shipping",
        "Standard shipping takes 3-7 business days; tracking numbers appear as soon as the carrier "
        "collects the parcel. Shipping is free on orders over $50.",
        frozenset({"shipping", "ship", "delivery", "deliver", "tracking", "track", "carrier",
                   "long", "arrive", "free"}),
    ),
    PolicyEntry(
        "Changing the shipping address",
        "The shipping address can be changed while the order is processing. After it ships, the "
        "carrier must be contacted to redirect the parcel.",
        frozenset({"address", "change", "move", "moved", "redirect", "wrong"}),
    ),
    PolicyEntry(
        "Warranty",
        "Every item carries a one-year warranty against manufacturing defects. Open a ticket with "
        "photos of the fault and we will repair or replace it.",
        frozenset({"warranty", "broken", "defect", "defective", "faulty", "repair", "replace"}),
    ),
    PolicyEntry(
        "Sensitive actions",
        "Refunds, cancellations and address changes are checked by a support supervisor before "
        "they happen. You will see the outcome in this conversation.",
        frozenset({"approval", "approve", "supervisor", "human", "review", "why", "wait"}),
    ),
)

_WORD = re.compile(r"[a-z0-9]+")


def search_policy(query: str, *, limit: int = 2) -> list[PolicyEntry]:
    """Policy entries that share the most words with the query, best first."""
    words = set(_WORD.findall(query.lower()))
    scored = [
        (len(words & (entry.keywords | set(_WORD.findall(entry.topic.lower())))), index, entry)
        for index, entry in enumerate(POLICY)
    ]
    matches = [(score, index, entry) for score, index, entry in scored if score > 0]
    matches.sort(key=lambda item: (-item[0], item[1]))
    return [entry for _, _, entry in matches[:limit]]
