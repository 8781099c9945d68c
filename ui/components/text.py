"""Showing text people typed without letting it act as markdown."""

from __future__ import annotations

import re
import time

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")
# What could start a link, an image, raw HTML or code; the rest of markdown (bold, lists)
# stays available. (Maths cannot link: Streamlit's KaTeX refuses \href and \url.)
_LINK_SYNTAX = re.compile(r"([\\`\[\]<>])")
# Words the renderer turns into links by themselves (GitHub-flavoured autolinks: URLs, www.
# addresses, e-mail addresses). Escaping cannot stop those, because the renderer finds them
# in the text after escapes are resolved; inside a code span they stay text.
_AUTOLINK = re.compile(r"://|www\.|mailto:|xmpp:|@[-\w]+\.[-\w]", re.IGNORECASE)
_WORD = re.compile(r"\S+")
_BACKTICKS = re.compile(r"`+")


def plain(text: str) -> str:
    """Escape markdown, so a customer's words are shown exactly as typed (never as links)."""
    return _inert(text, _MARKDOWN)


def without_links(text: str) -> str:
    """Markdown with nothing that can become a link or an image; other formatting stays.

    For the assistant's replies, which can quote the customer (a ticket's subject, a
    refund's reason) and so must never show their links or images in the assistant's voice,
    and for widget labels that hold a customer's words (thread titles).
    """
    return _inert(text, _LINK_SYNTAX)


def _inert(text: str, syntax: re.Pattern[str]) -> str:
    def word(match: re.Match[str]) -> str:
        found = match.group()
        return _code_span(found) if _AUTOLINK.search(found) else syntax.sub(r"\\\1", found)

    return _WORD.sub(word, text)


def _code_span(word: str) -> str:
    """`word` as inline code: a fence longer than any backtick run inside cannot be closed."""
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(word)), default=0) + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"


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
    "handoff": ("with a person", "violet"),
    "closed": ("closed", "gray"),
}


def status_label(status: str) -> tuple[str, str]:
    """A thread status as (words, badge colour)."""
    return STATUS_LABELS.get(status, (status, "gray"))
