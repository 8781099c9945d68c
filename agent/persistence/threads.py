"""The thread registry: who owns each thread, its title and status, without reading checkpoints."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from agent.core.db import Database, Row
from agent.persistence.encryption import TextCipher

# running: a run holds (or held, if its process died) the thread; see agent/turns.py.
# handoff: a person from the support team handles the thread (or was asked to).
ThreadStatus = Literal["active", "running", "awaiting_approval", "interrupted", "handoff",
                       "closed"]

_COLUMNS = "thread_id, tenant, user_id, title, status, created_at, updated_at"
_THREAD_ID = re.compile(r"t_[0-9a-f]{32}")


@dataclass(frozen=True)
class ThreadRecord:
    """One row of the registry."""

    thread_id: str
    tenant: str
    user_id: str
    title: str
    status: ThreadStatus
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> ThreadRecord:
        return cls(**row)


def new_thread_id() -> str:
    """An opaque, unguessable thread id (128 random bits)."""
    return "t_" + secrets.token_hex(16)


def is_thread_id(text: str) -> bool:
    """True when `text` has the shape of an id `new_thread_id` makes."""
    return _THREAD_ID.fullmatch(text) is not None


class ThreadRegistry:
    """Registry queries; every lookup that serves a user is scoped to its tenant and owner.

    Titles (a customer's first words) are stored sealed when the cipher has a key, and
    opened on every read; older plain titles read as they are.
    """

    def __init__(self, db: Database, cipher: TextCipher | None = None):
        self.db = db
        self.cipher = cipher or TextCipher(None)

    def on(self, db: Database) -> ThreadRegistry:
        """The same registry, its statements sent through `db` instead."""
        return ThreadRegistry(db, self.cipher)

    def create(self, tenant: str, user_id: str, title: str) -> ThreadRecord:
        """Register a new thread owned by `user_id`."""
        now = time.time()
        record = ThreadRecord(new_thread_id(), tenant, user_id, title, "active", now, now)
        self.db.execute(
            f"INSERT INTO support_threads ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.thread_id, tenant, user_id, self.cipher.seal(title), record.status, now,
             now),
        )
        return record

    def get(self, thread_id: str) -> ThreadRecord | None:
        """The thread, whoever owns it (for internal use and supervisors)."""
        row = self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM support_threads WHERE thread_id = ?", (thread_id,)
        )
        return self._record(row) if row else None

    def get_owned(self, thread_id: str, user_id: str) -> tuple[ThreadRecord, Row] | None:
        """The thread if `user_id` owns it, with the owner's `support_users` row: one read."""
        row = self.db.fetch_one(
            "SELECT t.thread_id, t.tenant, t.user_id, t.title, t.status, t.created_at,"
            " t.updated_at, u.display_name, u.email, u.role, u.disabled_at"
            " FROM support_threads t"
            " JOIN support_users u ON u.user_id = t.user_id AND u.tenant = t.tenant"
            " WHERE t.thread_id = ? AND t.user_id = ?", (thread_id, user_id))
        if row is None:
            return None
        thread = {column: row[column] for column in _COLUMNS.split(", ")}
        return self._record(thread), row

    def list_for_user(
        self, tenant: str, user_id: str, *, limit: int = 20, offset: int = 0
    ) -> list[ThreadRecord]:
        """A page of the user's threads, most recently active first."""
        # By user_id alone (unique across tenants), so the page walks its index whatever the
        # statistics (migration 12); the tenant is checked on the rows instead.
        rows = self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM support_threads WHERE user_id = ?"
            " ORDER BY updated_at DESC, thread_id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [self._record(row) for row in rows if row["tenant"] == tenant]

    def list_for_tenant(self, tenant: str, *, limit: int = 20,
                        offset: int = 0) -> list[ThreadRecord]:
        """A page of a tenant's threads, most recently active first."""
        rows = self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM support_threads WHERE tenant = ?"
            " ORDER BY updated_at DESC, thread_id DESC LIMIT ? OFFSET ?",
            (tenant, limit, offset),
        )
        return [self._record(row) for row in rows]

    def count_for_tenant(self, tenant: str) -> int:
        """How many threads the tenant has."""
        return self._counted(tenant, "")

    def count_for_user(self, tenant: str, user_id: str) -> int:
        """How many threads the user has."""
        return self._counted(tenant, user_id)

    def _counted(self, tenant: str, user_id: str) -> int:
        # Kept by triggers (migration 11): one row, where COUNT(*) read a big customer's
        # every thread on each page of the sidebar.
        row = self.db.fetch_one(
            "SELECT threads FROM support_thread_counts WHERE tenant = ? AND user_id = ?",
            (tenant, user_id),
        )
        return int(row["threads"]) if row else 0

    def list_by_status(
        self, tenant: str, status: ThreadStatus, *, limit: int = 100
    ) -> list[ThreadRecord]:
        """Threads of a tenant in one status, longest waiting first."""
        rows = self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM support_threads WHERE tenant = ? AND status = ?"
            " ORDER BY updated_at ASC LIMIT ?",
            (tenant, status, limit),
        )
        return [self._record(row) for row in rows]

    def set_title(self, thread_id: str, title: str) -> None:
        """Rename a thread."""
        self.db.execute(
            "UPDATE support_threads SET title = ? WHERE thread_id = ?",
            (self.cipher.seal(title), thread_id),
        )

    def _record(self, row: Row) -> ThreadRecord:
        """A registry row as a record, its title opened."""
        return ThreadRecord.from_row({**row, "title": self.cipher.open(row["title"],
                                                                      "a thread title")})

    def set_status(self, thread_id: str, status: ThreadStatus) -> None:
        """Record the thread's status and mark it as just active."""
        self.db.execute(
            "UPDATE support_threads SET status = ?, updated_at = ? WHERE thread_id = ?",
            (status, time.time(), thread_id),
        )

    def delete(self, thread_id: str) -> bool:
        """Remove the registry row; True if there was one."""
        return self.db.execute("DELETE FROM support_threads WHERE thread_id = ?", (thread_id,)) > 0
