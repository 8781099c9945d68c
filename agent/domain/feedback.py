"""Customer feedback: thumbs up/down on an assistant reply, 1-5 stars for a closed conversation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from agent.core.db import Database

FeedbackKind = Literal["reply", "conversation"]
CONVERSATION = ""  # the message id under which a conversation's rating is stored


@dataclass(frozen=True)
class FeedbackEntry:
    """One rating: a reply's thumbs (+1/-1) or a conversation's stars (1-5)."""

    tenant: str
    thread_id: str
    user_id: str
    message_id: str
    kind: FeedbackKind
    score: int
    comment: str
    created_at: float


class FeedbackBook:
    """Stores ratings per tenant; rating the same thing again replaces the earlier score."""

    def __init__(self, db: Database):
        self.db = db

    def rate(self, tenant: str, thread_id: str, user_id: str, message_id: str,
             kind: FeedbackKind, score: int, comment: str = "") -> None:
        """Store (or replace) one rating."""
        self.db.execute(
            "INSERT INTO support_feedback (tenant, thread_id, user_id, message_id, kind, score,"
            " comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (thread_id, user_id, message_id) DO UPDATE SET score = excluded.score,"
            " comment = excluded.comment, created_at = excluded.created_at",
            (tenant, thread_id, user_id, message_id, kind, score, comment, time.time()),
        )

    def for_thread(self, thread_id: str, user_id: str) -> dict[str, int]:
        """The user's scores on one thread, by message id ('' for the conversation)."""
        rows = self.db.fetch_all(
            "SELECT message_id, score FROM support_feedback WHERE thread_id = ? AND user_id = ?",
            (thread_id, user_id))
        return {row["message_id"]: int(row["score"]) for row in rows}

    def entries(self, tenant: str, *, kind: FeedbackKind | None = None,
                limit: int = 1000) -> list[FeedbackEntry]:
        """A tenant's ratings, newest first."""
        where, params = "tenant = ?", [tenant]
        if kind:
            where += " AND kind = ?"
            params.append(kind)
        rows = self.db.fetch_all(
            "SELECT tenant, thread_id, user_id, message_id, kind, score, comment, created_at"
            f" FROM support_feedback WHERE {where} ORDER BY created_at DESC LIMIT ?",
            [*params, limit])
        return [FeedbackEntry(**{**row, "score": int(row["score"]),
                                 "created_at": float(row["created_at"])}) for row in rows]
