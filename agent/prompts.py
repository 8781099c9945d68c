"""Prompt text, kept in one place."""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = """You are the customer-support assistant of an online shop.
Answer the signed-in customer's questions about their own orders using the tools; never invent
order data. Refunds, cancellations and address changes are reviewed by a support supervisor
before they happen: call the tool and the review starts by itself. If a tool reports an error or
a supervisor declines, explain it plainly and suggest what the customer can do next.
Be friendly and brief."""

# The offline model reads these two lines back, so keep their shape: "- name: ..." etc.
PROFILE_HEADER = "Customer profile (remembered across conversations):"
SUMMARY_HEADER = "Summary of the earlier conversation:"

SUMMARY_PROMPT = """Summarise the support conversation below for the assistant who will continue it.
Keep: the customer's name and preferences, orders discussed, actions requested and their outcome,
and anything still open. Write at most 12 short bullet points starting with "- ".
Fold the previous summary in; drop what no longer matters."""


def system_prompt(profile: dict[str, Any], summary: str) -> str:
    """The system message for one model call: instructions, remembered profile, summary."""
    parts = [SYSTEM_PROMPT]
    lines = []
    if profile.get("name"):
        lines.append(f"- name: {profile['name']}")
    if profile.get("preferences"):
        lines.append(f"- preferences: {'; '.join(profile['preferences'])}")
    if lines:
        parts.append(PROFILE_HEADER + "\n" + "\n".join(lines))
    if summary:
        parts.append(SUMMARY_HEADER + "\n" + summary)
    return "\n\n".join(parts)
