"""Threads: create, list, rename, close, delete and view."""

from __future__ import annotations

from agent.errors import InvalidInput
from agent.persistence.threads import ThreadRecord
from agent.service.access import (
    DEFAULT_TITLE,
    DeskAccess,
    clean_title,
    page_bounds,
)
from agent.service.convert import to_chat_message
from agent.service.handoffs import handoff_view
from agent.text import storable_text
from agent.turns import checkpoint_id_of
from agent.views import (
    ThreadPage,
    ThreadView,
)


class ThreadDesk(DeskAccess):
    """Threads: create, list, rename, close, delete and view."""

    def create_thread(self, user_id: str, title: str | None = None) -> ThreadRecord:
        """Start an empty thread owned by the user."""
        user = self._customer(user_id)
        clean = clean_title(storable_text(title or "", "the title"))
        return self.threads.create(user.tenant, user.user_id, clean or DEFAULT_TITLE)

    def list_threads(self, user_id: str, *, limit: int = 20, offset: int = 0) -> ThreadPage:
        """A page of the user's own threads, most recent activity first."""
        user = self.user(user_id)
        limit, offset = page_bounds(limit, offset)
        page = self.threads.list_for_user(user.tenant, user.user_id, limit=limit, offset=offset)
        return ThreadPage([self.turns.reconcile(record) for record in page],
                          self.threads.count_for_user(user.tenant, user.user_id), offset, limit)

    def tenant_threads(self, supervisor_id: str, *, limit: int = 20,
                       offset: int = 0) -> ThreadPage:
        """A page of every thread in the supervisor's tenant, most recent activity first."""
        supervisor = self._supervisor(supervisor_id)
        limit, offset = page_bounds(limit, offset)
        page = self.threads.list_for_tenant(supervisor.tenant, limit=limit, offset=offset)
        return ThreadPage([self.turns.reconcile(record) for record in page],
                          self.threads.count_for_tenant(supervisor.tenant), offset, limit)

    def rename_thread(self, user_id: str, thread_id: str, title: str) -> ThreadRecord:
        """Give a thread a new title."""
        record = self._owned_thread(self.user(user_id), thread_id)
        clean = clean_title(storable_text(title or "", "the title"))
        if not clean:
            raise InvalidInput("the new title is empty")
        self.threads.set_title(record.thread_id, clean)
        return self._owned_thread(self.user(user_id), thread_id)

    def close_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        """Mark a thread closed; a new message reopens it."""
        record = self._owned_thread(self.user(user_id), thread_id)
        # Under the thread's lock, like a turn: a close waits for (or, with the "fail" policy,
        # is refused by) a running turn, and a turn starting now cannot run beside it.
        with self.turns.holding(record) as current:
            if current.status == "awaiting_approval":
                raise InvalidInput("this thread waits for a supervisor to decide on a requested "
                                   "action; close it after that")
            self.threads.set_status(current.thread_id, "closed")
        return self._owned_thread(self.user(user_id), thread_id)

    def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete a thread: its registry row first (it vanishes at once), then its checkpoints."""
        record = self._owned_thread(self.user(user_id), thread_id)
        with self.persistence.locks.hold(record.thread_id, self.turns.wait_seconds):
            self.threads.delete(record.thread_id)
            self.persistence.checkpointer.delete_thread(record.thread_id)

    def view_thread(self, user_id: str, thread_id: str) -> ThreadView:
        """The thread's current messages, summary and any approval it waits for."""
        record = self.turns.reconcile(self._readable_thread(self.user(user_id), thread_id))
        snapshot = self.turns.state(record.thread_id)
        values = snapshot.values or {}
        return ThreadView(
            thread=record,
            messages=[to_chat_message(m) for m in values.get("messages", [])],
            summary=values.get("summary", ""),
            pending_approvals=self._approvals_in(record, snapshot),
            next_nodes=tuple(task.name for task in snapshot.tasks),
            checkpoint_id=checkpoint_id_of(snapshot),
            handoff=handoff_view(self.shop, record, snapshot),
        )
