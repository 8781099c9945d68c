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
        """The customer's reason, as a sensitive tool records it ("" when none was given)."""
        return reason_in(self.text)

    @property
    def whole(self) -> str:
        """The whole message, at most 500 characters (what a policy search looks for)."""
        return self.text.strip()[:500]


# Where one clause of a message ends: punctuation before a space (not "$1,000", "10:30" or
# "ORD-1001"), a dash between spaces, or a line break.
_CLAUSE_END = re.compile(r"[,;:.!?]+(?=\s|$)|\s[-\u2013\u2014]+\s|\n")
# What introduces a reason ("... because I ordered the wrong size"). "as" only before the
# subject of a clause, so that "as soon as possible" is no reason.
_BECAUSE = re.compile(r"\b(?:because(?: of)?|since|due to|as(?=\s+(?:i|i'm|i've|it|it's|its|"
                      r"they|the|my|we|this|that|these|those|he|she)\b))\s+", re.IGNORECASE)
# A clause that asks for the action itself ("please refund ORD-1001"), not why.
_REQUEST_WORDS = re.compile(r"\bORD-?\d{3,6}\b|\brefund|\bcancel|\breimburs|\bmoney back\b"
                            r"|\baddress\b|\bchange (?:the|my)\b", re.IGNORECASE)
# A clause that carries no reason: a greeting, a courtesy.
_FILLER = re.compile(r"(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))(?:\s+\w+){0,2}"
                     r"|please|thanks|thank you(?: (?:so|very) much)?|many thanks|sorry|asap"
                     r"|ok|okay|cheers|regards", re.IGNORECASE)
MAX_REASON_CHARS = 500
_BETWEEN = " \t\n,;:.!?-\u2013\u2014"  # what may separate two clauses of one run


def reason_in(text: str) -> str:
    """Why the customer asks, without the request itself ("" when they gave no reason).

    "Please refund ORD-1001, the boots leak" -> "the boots leak"; "Cancel ORD-1003 because I
    ordered the wrong size" -> "I ordered the wrong size"; "refund ORD-1001" -> "".
    """
    kept: list[tuple[int, int]] = []  # (start, end) of the clauses that say why
    start = 0
    for end, after in [(m.start(), m.end()) for m in _CLAUSE_END.finditer(text)] + [
            (len(text), len(text))]:
        clause_start, clause = start, text[start:end]
        start = after
        because = _BECAUSE.search(clause)
        if _REQUEST_WORDS.search(clause):
            if not because:
                continue
            # "Cancel ORD-1003 because I ordered the wrong size": what follows is the reason.
            clause_start += because.end()
            clause = clause[because.end():]
            if _REQUEST_WORDS.search(clause):
                # "Because they leak I want a refund on ORD-1001": no clean cut; leave it out
                # rather than quote the order number as the reason.
                continue
        stripped = clause.strip()
        if not stripped or _FILLER.fullmatch(stripped.strip("!.?, ")):
            continue
        first = clause_start + len(clause) - len(clause.lstrip())
        kept.append((first, first + len(stripped)))
    # Neighbouring clauses keep the customer's own punctuation; separate ones are joined.
    runs: list[list[int]] = []
    for first, last in kept:
        if runs and not text[runs[-1][1]:first].strip(_BETWEEN):
            runs[-1][1] = last
        else:
            runs.append([first, last])
    return "; ".join(text[first:last] for first, last in runs)[:MAX_REASON_CHARS]


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
