"""Durable facts a customer states about themselves ("my name is ...", "keep answers short")."""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"\b(?:my name is|call me)\s+([A-Za-z][A-Za-z'\-]{0,39})", re.IGNORECASE)
# "call me back", "call me tomorrow" are requests, not names.
_NOT_NAMES = frozenset({"back", "later", "tomorrow", "today", "asap", "now", "soon", "when",
                        "if", "at", "on", "please", "again", "not", "a", "an", "the"})

PREFERENCE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(keep|make)\b[^.?!]*\b(short|brief|concise)\b|\bbe (brief|concise)\b"
                r"|\bshort(er)? (answers|replies)\b", re.IGNORECASE), "short answers"),
    (re.compile(r"\b(contact|reach|email) me by e-?mail\b|\bprefer e-?mail\b", re.IGNORECASE),
     "contact by email"),
    (re.compile(r"\b(contact|reach) me by phone\b|\bprefer (a )?(phone|call)", re.IGNORECASE),
     "contact by phone"),
)

SHORT_ANSWERS = "short answers"


def extract_facts(text: str) -> dict[str, Any]:
    """The name and preferences stated in one message, e.g. {"name": "Alice"}."""
    facts: dict[str, Any] = {}
    for match in _NAME.finditer(text):
        word = match.group(1)
        if word.lower() not in _NOT_NAMES:
            facts["name"] = word[0].upper() + word[1:]
    preferences = [label for pattern, label in PREFERENCE_PATTERNS if pattern.search(text)]
    if preferences:
        facts["preferences"] = preferences
    return facts


def merge_profile(profile: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """A new profile with the facts folded in (a new name replaces, preferences accumulate)."""
    merged = dict(profile)
    if facts.get("name"):
        merged["name"] = facts["name"]
    if facts.get("preferences"):
        known = list(profile.get("preferences", []))
        merged["preferences"] = known + [p for p in facts["preferences"] if p not in known]
    return merged
