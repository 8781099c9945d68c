"""Checks on a thread's checkpoint history and messages, as dataclasses or their JSON form."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

TRACKING = "1Z999AA10123456791"  # in the reply to "Where is ORD-1002?"
REFUND = "Please refund ORD-1001, the boots leak"


def assert_single_line(history: list[Any]) -> None:
    """Newest first: each checkpoint's parent is the one before it, back to the first."""
    history = [h if isinstance(h, dict) else dataclasses.asdict(h) for h in history]
    assert history, "no checkpoints"
    for newer, older in itertools.pairwise(history):
        assert newer["parent_id"] == older["checkpoint_id"], "the history branches"
    assert history[-1]["parent_id"] is None
    steps = [h["step"] for h in history]
    assert steps == list(range(steps[0], steps[0] - len(steps), -1)), steps


def customer_texts(view: Any) -> list[str]:
    messages = view["messages"] if isinstance(view, dict) else [
        dataclasses.asdict(m) for m in view.messages]
    return [m["text"] for m in messages if m["role"] == "customer"]
