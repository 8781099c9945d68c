"""What the offline model reads from one customer message, shared by the tools' recognisers."""

from __future__ import annotations

import re
from dataclasses import dataclass

ORDER_ID = re.compile(r"\bORD-?(\d{3,6})\b", re.IGNORECASE)
_AMOUNT = re.compile(r"\$\s?(\d+(?:\.\d{1,2})?)|\b(\d+(?:\.\d{1,2})?)\s?(?:dollars|usd)\b",
                     re.IGNORECASE)
_QUESTION_START = re.compile(r"^\s*(how|what|when|can|could|do|does|is|are|why)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    """What the customer wants: a tool to call with arguments, or a direct reply."""

    tool: str | None = None
    args: dict | None = None
    reply: str | None = None


@dataclass(frozen=True)
class Request:
    """One customer message, with what every recogniser looks at worked out once."""

    text: str

    @property
    def lowered(self) -> str:
        """The message in lower case, for keyword patterns."""
        return self.text.lower()

    @property
    def order_id(self) -> str | None:
        """The first order number named, normalised to ORD-NNNN."""
        return order_id_in(self.text)

    @property
    def asks_policy(self) -> bool:
        """A question about the rules rather than a request to act ("how do refunds work?")."""
        return "policy" in self.lowered or bool(_QUESTION_START.match(self.text)
                                                 and not self.order_id)

    @property
    def reason(self) -> str:
        """The message as the reason a sensitive tool records (at most 500 characters)."""
        return self.text.strip()[:500]


def order_id_in(text: str) -> str | None:
    """'ORD-1001' from 'refund ord1001 please', or None."""
    match = ORDER_ID.search(text)
    return f"ORD-{match.group(1)}" if match else None


def amount_in(text: str) -> float | None:
    """Dollars named in the text ('$20', '20 dollars'), or None."""
    match = _AMOUNT.search(text)
    if not match:
        return None
    return float(match.group(1) or match.group(2))


def which_order(verb: str) -> str:
    """The question asked when a request names no order."""
    return (f"Which order would you like to {verb}? Order numbers look like ORD-1001; say "
            "'list my orders' to see yours.")


def first_sentence(text: str) -> str:
    """The text up to its first full stop, question or exclamation mark."""
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip())
    return match.group(1) if match else text.strip()
