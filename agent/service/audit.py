"""The audit trail and customer feedback, as supervisors read them (their tenant only)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from langchain_core.messages import AIMessage

from agent.core.handoff import staff_author
from agent.domain.audit import ACTIONS, AuditLog
from agent.domain.feedback import CONVERSATION, FeedbackBook
from agent.errors import InvalidInput, NotFound
from agent.service.access import DeskAccess
from agent.text import storable_text
from agent.tools import registry
from agent.views import AuditView, FeedbackView

MAX_ROWS = 5000
# A cell a spreadsheet would run as a formula starts with one of these: shown as text instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("time (UTC)", "customer", "action", "request", "decided by", "before", "after",
               "reason", "outcome", "ok", "thread")


class AuditDesk(DeskAccess):
    """Audit trail and feedback: who decided what, and what customers thought of it."""

    def audit_trail(self, supervisor_id: str, *, customer_id: str | None = None,
                    actions: tuple[str, ...] = (), since: float | None = None,
                    until: float | None = None, limit: int = 1000) -> list[AuditView]:
        """The tenant's decisions and handoff steps, newest first, filtered."""
        supervisor = self._supervisor(supervisor_id)
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise InvalidInput(f"unknown action {unknown[0]!r}; use one of {', '.join(ACTIONS)}")
        if since is not None and until is not None and since >= until:
            raise InvalidInput("the start of the time range must be before its end")
        entries = AuditLog(self.persistence.db).entries(
            supervisor.tenant, customer_id=(customer_id or "").strip().lower() or None,
            actions=actions, since=since, until=until, limit=max(1, min(limit, MAX_ROWS)))
        names = self._names()
        return [AuditView(
            audit_id=e.audit_id, created_at=e.created_at, thread_id=e.thread_id,
            customer_id=e.customer_id, customer_name=names.get(e.customer_id, e.customer_id),
            actor_id=e.actor_id, actor_name=names.get(e.actor_id, e.actor_id), action=e.action,
            tool=e.tool, tool_label=registry.label(e.tool) if e.tool else "", before=e.before,
            after=e.after, reason=e.reason, outcome=e.outcome, ok=e.ok) for e in entries]

    def audit_csv(self, supervisor_id: str, **filters) -> str:
        """The filtered audit trail as CSV (safe to open in a spreadsheet)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in self.audit_trail(supervisor_id, **filters):
            writer.writerow([_cell(value) for value in (
                datetime.fromtimestamp(row.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                f"{row.customer_name} ({row.customer_id})", row.action, row.tool_label,
                f"{row.actor_name} ({row.actor_id})", _args(row.before), _args(row.after),
                row.reason, row.outcome, "yes" if row.ok else "no", row.thread_id or "")])
        return buffer.getvalue()

    def rate_reply(self, user_id: str, thread_id: str, message_id: str, score: int) -> None:
        """A customer's thumbs up (+1) or down (-1) on one of the assistant's replies."""
        user = self._customer(user_id)
        record = self._owned_thread(user, thread_id)
        if score not in (1, -1):
            raise InvalidInput("a reply is rated +1 (thumbs up) or -1 (thumbs down)")
        messages = (self.turns.state(record.thread_id).values or {}).get("messages", [])
        replies = {m.id for m in messages if isinstance(m, AIMessage) and m.text
                   and staff_author(m) is None}
        if message_id not in replies:
            raise NotFound("that reply is not in this conversation (any more)")
        FeedbackBook(self.persistence.db).rate(user.tenant, record.thread_id, user.user_id,
                                               message_id, "reply", score)

    def close_with_rating(self, user_id: str, thread_id: str, stars: int,
                          comment: str = "") -> None:
        """Close a conversation and store the customer's 1-5 satisfaction rating."""
        user = self._customer(user_id)
        if not isinstance(stars, int) or not 1 <= stars <= 5:
            raise InvalidInput("a conversation is rated from 1 to 5 stars")
        comment = self._valid_comment(comment)
        record = self.close_thread(user.user_id, thread_id)
        FeedbackBook(self.persistence.db).rate(user.tenant, record.thread_id, user.user_id,
                                               CONVERSATION, "conversation", stars, comment)

    def my_ratings(self, user_id: str, thread_id: str) -> dict[str, int]:
        """The customer's ratings on one thread, by message id ('' for the conversation)."""
        user = self._customer(user_id)
        record = self._owned_thread(user, thread_id)
        return FeedbackBook(self.persistence.db).for_thread(record.thread_id, user.user_id)

    def feedback(self, supervisor_id: str, *, kind: str | None = None,
                 limit: int = 500) -> list[FeedbackView]:
        """The tenant's ratings, newest first, with the rated reply's opening words."""
        supervisor = self._supervisor(supervisor_id)
        if kind not in (None, "reply", "conversation"):
            raise InvalidInput("feedback kind is 'reply' or 'conversation'")
        entries = FeedbackBook(self.persistence.db).entries(
            supervisor.tenant, kind=kind, limit=max(1, min(limit, MAX_ROWS)))
        names, titles, texts = self._names(), {}, {}
        views = []
        for e in entries:
            if e.thread_id not in titles:
                record = self.threads.get(e.thread_id)
                titles[e.thread_id] = record.title if record else "(deleted conversation)"
                texts[e.thread_id] = self._reply_texts(e.thread_id) if record else {}
            views.append(FeedbackView(
                created_at=e.created_at, thread_id=e.thread_id, thread_title=titles[e.thread_id],
                customer_id=e.user_id, customer_name=names.get(e.user_id, e.user_id),
                kind=e.kind, score=e.score, comment=e.comment,
                message_excerpt=texts[e.thread_id].get(e.message_id, "")[:200]))
        return views

    def _reply_texts(self, thread_id: str) -> dict[str, str]:
        messages = (self.turns.state(thread_id).values or {}).get("messages", [])
        return {m.id: m.text for m in messages if isinstance(m, AIMessage)}

    def _names(self) -> dict[str, str]:
        return {user.user_id: user.display_name for user in self.shop.list_users()}

    def _valid_comment(self, comment: str) -> str:
        comment = storable_text(comment or "", "the comment").strip()
        if len(comment) > 2000:
            raise InvalidInput("the comment is longer than 2,000 characters")
        return comment


def _args(values: dict | None) -> str:
    return json.dumps(values, sort_keys=True) if values else ""


def _cell(value: str) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
