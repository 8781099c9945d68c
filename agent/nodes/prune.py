"""Pruning: the hard cap on what a thread keeps, by message count and size."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AnyMessage, RemoveMessage

from agent.nodes.messages import message_chars, split_system, turn_starts
from agent.settings import Settings
from agent.state import SupportState


def needs_pruning(messages: list[AnyMessage], settings: Settings) -> bool:
    """True when the conversation is over either limit."""
    _, body = split_system(messages)
    return (len(body) > settings.prune_max_messages
            or sum(message_chars(m) for m in body) > settings.prune_max_chars)


def oldest_turns_to_drop(messages: list[AnyMessage], settings: Settings) -> list[AnyMessage]:
    """The fewest whole turns, oldest first, whose removal brings the thread under both limits.

    System messages always stay, and so does the latest turn, even when it alone is too big.
    """
    _, body = split_system(messages)
    starts = turn_starts(body)
    if len(starts) < 2:
        return []
    for cut in starts[1:]:
        kept = body[cut:]
        if (len(kept) <= settings.prune_max_messages
                and sum(message_chars(m) for m in kept) <= settings.prune_max_chars):
            return body[:cut]
    return body[:starts[-1]]


def make_prune_node(settings: Settings):
    """The prune node, bound to its limits."""

    def prune(state: SupportState) -> dict[str, Any]:
        """Remove the oldest whole turns so the thread fits its limits."""
        dropped = oldest_turns_to_drop(state["messages"], settings)
        return {"messages": [RemoveMessage(id=m.id) for m in dropped]} if dropped else {}

    return prune
