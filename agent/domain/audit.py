"""The audit trail: who decided what on which thread, when, and how it turned out.

One row per decision (approve, edit, reject, respond) and per handoff step (handoff, reply,
hand_back). Each row has an idempotency key (the thread and the tool call or message it is
about), so a step that runs again after a crash finds its row instead of adding a second one.
Where a decision has a side effect (a refund), its row is written in the side effect's own
transaction (`record(..., session=...)`); retention never deletes these rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from agent.core.db import Database, Row, Session

ACTIONS = ("approve", "edit", "reject", "respond", "handoff", "reply", "hand_back")


@dataclass(frozen=True)
class AuditRecord:
    """One decision or handoff step, as a node or tool records it."""

    key: str
    tenant: str
    thread_id: str | None
    customer_id: str
    actor_id: str
    action: str
    outcome: str
    tool: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    ok: bool = True
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AuditEntry:
    """A stored audit row."""

    audit_id: int
    created_at: float
    tenant: str
    thread_id: str | None
    customer_id: str
    actor_id: str
    action: str
    tool: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    outcome: str
    ok: bool


_COLUMNS = ("audit_id, created_at, tenant, thread_id, customer_id, actor_id, action, tool,"
            " before_args, after_args, reason, outcome, ok")


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        audit_id=int(row["audit_id"]), created_at=float(row["created_at"]),
        tenant=row["tenant"], thread_id=row["thread_id"], customer_id=row["customer_id"],
        actor_id=row["actor_id"], action=row["action"], tool=row["tool"],
        before=json.loads(row["before_args"]) if row["before_args"] else None,
        after=json.loads(row["after_args"]) if row["after_args"] else None,
        reason=row["reason"], outcome=row["outcome"], ok=bool(row["ok"]))


class AuditLog:
    """Writes and reads the audit trail."""

    def __init__(self, db: Database):
        self.db = db

    def record(self, entry: AuditRecord, *, session: Session | None = None) -> bool:
        """Add a row unless one with its key exists; True if this call added it."""
        return bool((session or self.db).execute(
            "INSERT INTO support_audit (idempotency_key, tenant, thread_id, customer_id,"
            " actor_id, action, tool, before_args, after_args, reason, outcome, ok, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (entry.key, entry.tenant, entry.thread_id, entry.customer_id, entry.actor_id,
             entry.action, entry.tool, _json(entry.before), _json(entry.after), entry.reason,
             entry.outcome, int(entry.ok), entry.created_at),
        ))

    def entries(self, tenant: str, *, customer_id: str | None = None,
                actions: tuple[str, ...] = (), since: float | None = None,
                until: float | None = None, limit: int = 1000) -> list[AuditEntry]:
        """A tenant's rows, newest first, filtered by customer, action and time."""
        where, params = ["tenant = ?"], [tenant]
        if customer_id:
            where.append("customer_id = ?")
            params.append(customer_id)
        if actions:
            where.append(f"action IN ({', '.join('?' for _ in actions)})")
            params.extend(actions)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("created_at < ?")
            params.append(until)
        rows = self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM support_audit WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, audit_id DESC LIMIT ?", [*params, limit])
        return [_entry(row) for row in rows]

    def for_key(self, key: str) -> AuditEntry | None:
        """The row recorded under a key, if any."""
        row = self.db.fetch_one(f"SELECT {_COLUMNS} FROM support_audit WHERE idempotency_key = ?",
                                (key,))
        return _entry(row) if row else None


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)
