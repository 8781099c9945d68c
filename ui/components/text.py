"""Showing text people typed without letting it act as markdown."""

from __future__ import annotations

import re
import time

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def plain(text: str) -> str:
    """Escape markdown, so a customer's words are shown exactly as typed."""
    return _MARKDOWN.sub(r"\\\1", text)


def ago(epoch: float, now: float | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago'."""
    seconds = max(0, (now or time.time()) - epoch)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


STATUS_LABELS = {
    "active": ("active", "green"),
    "running": ("working", "blue"),
    "awaiting_approval": ("awaiting approval", "orange"),
    "interrupted": ("interrupted", "red"),
    "closed": ("closed", "gray"),
}


def status_label(status: str) -> tuple[str, str]:
    """A thread status as (words, badge colour)."""
    return STATUS_LABELS.get(status, (status, "gray"))
