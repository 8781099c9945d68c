"""History and time travel: checkpoints, replay, fork, export and the ledger."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from langgraph.types import StateSnapshot

from agent.core.approval import approval_payload
from agent.domain.shop import reference
from agent.errors import InvalidInput, NotFound
from agent.persistence.threads import ThreadRecord
from agent.service.access import (
    MAX_PAGE,
    DeskAccess,
    page_bounds,
)
from agent.service.convert import json_values, to_chat_message
from agent.service.graph_picture import graph_dot
from agent.service.step_words import request_words, step_in_words
from agent.text import storable_text
from agent.turns import (
    Plan,
    Run,
    TurnStream,
    checkpoint_id_of,
    guarded,
    thread_config,
)
from agent.views import (
    CheckpointInfo,
    CheckpointState,
)


class HistoryDesk(DeskAccess):
    """History and time travel: checkpoints, replay, fork, export and the ledger."""

    def history(self, user_id: str, thread_id: str, *, limit: int = 20,
                before: str | None = None) -> list[CheckpointInfo]:
        """A page of checkpoints, newest first; pass the last id as `before` for the next page."""
        record = self._readable_thread(self.user(user_id), thread_id)
        return [self._checkpoint_info(snapshot, parent, record)
                for snapshot, parent in self._history_page(record, limit, before)]

    def state_at(self, user_id: str, thread_id: str, checkpoint_id: str) -> CheckpointState:
        """The full state at one checkpoint and what changed from its parent."""
        record = self._readable_thread(self.user(user_id), thread_id)
        snapshot = self._snapshot(record, checkpoint_id)
        parent_id = _parent_id(snapshot)
        parent = self._snapshot(record, parent_id) if parent_id else None
        values = snapshot.values or {}
        parent_values = (parent.values or {}) if parent else {}
        ids = [m.id for m in values.get("messages", [])]
        parent_ids = [m.id for m in parent_values.get("messages", [])]
        return CheckpointState(
            info=self._checkpoint_info(snapshot, parent, record),
            messages=[to_chat_message(m) for m in values.get("messages", [])],
            summary=values.get("summary", ""),
            customer=values.get("customer", {}),
            values=json_values(values),
            added_message_ids=[i for i in ids if i not in parent_ids],
            removed_message_ids=[i for i in parent_ids if i not in ids],
            summary_changed=values.get("summary", "") != parent_values.get("summary", ""),
        )

    def replay(self, user_id: str, thread_id: str, checkpoint_id: str) -> TurnStream:
        """Run again from a checkpoint; the new steps form a branch from it."""
        record = self._owned_thread(self._customer(user_id), thread_id)
        snapshot = self._snapshot(record, checkpoint_id)
        if not snapshot.next:
            raise InvalidInput(f"checkpoint {checkpoint_id} ends a turn, so there is nothing to "
                               "replay; pick one that shows what runs next")
        return self.turns.start(record, lambda head: (Run.from_checkpoint(snapshot.config),))

    def fork(self, user_id: str, thread_id: str, checkpoint_id: str, text: str) -> TurnStream:
        """Edit the customer message at a checkpoint and continue on a new branch."""
        record = self._owned_thread(self._customer(user_id), thread_id)
        text = self._valid_message(text)
        snapshot = self._snapshot(record, checkpoint_id)
        messages = (snapshot.values or {}).get("messages", [])
        if not messages or not isinstance(messages[-1], HumanMessage) or \
                snapshot.metadata.get("source") == "input":
            raise InvalidInput(f"checkpoint {checkpoint_id} does not end with a customer "
                               "message; fork from a checkpoint where one was just received")
        edited = HumanMessage(text, id=messages[-1].id)

        def prepare(head: StateSnapshot) -> Plan:
            branch = guarded(lambda: self.graph.update_state(
                snapshot.config, {"messages": [edited]}, as_node="__start__"))
            return (Run.from_checkpoint(branch),)

        return self.turns.start(record, prepare)

    def export_thread(self, user_id: str, thread_id: str) -> dict[str, Any]:
        """The thread and every checkpoint (oldest first) as JSON-ready data."""
        record = self._readable_thread(self.user(user_id), thread_id)
        checkpoints = []
        before: str | None = None
        while True:
            page = self._history_page(record, MAX_PAGE, before)
            checkpoints += [{**asdict(self._checkpoint_info(snapshot, parent, record)),
                             "values": json_values(snapshot.values or {})}
                            for snapshot, parent in page]
            if len(page) < MAX_PAGE:
                break
            before = checkpoint_id_of(page[-1][0])
        checkpoints.reverse()
        return {"format": "support-agent/thread-export@1", "exported_at": time.time(),
                "thread": asdict(record), "checkpoints": checkpoints}

    def graph_picture(self, highlight: tuple[str, ...] = (), *, technical: bool = True) -> str:
        """The agent's graph as Graphviz DOT, `highlight` (e.g. a checkpoint's next) filled.

        Drawn from the compiled graph, so it shows the nodes this desk really runs; node names
        for supervisors (`technical`), what each node does in words for customers.
        """
        return graph_dot(self.graph.get_graph(), highlight, technical=technical)

    def ledger(self, user_id: str) -> list[dict[str, Any]]:
        """Ledger entries visible to the user: their own, or their tenant's for a supervisor."""
        user = self.user(user_id)
        entries = self.shop.ledger(tenant=user.tenant)
        if not user.is_supervisor:
            entries = [e for e in entries if e.customer_id == user.user_id]
        return [{"reference": reference(e.idempotency_key), **asdict(e)} for e in entries]


    def _snapshot(self, record: ThreadRecord, checkpoint_id: str | None) -> StateSnapshot:
        storable_text(checkpoint_id or "", "the checkpoint id")
        snapshot = self.turns.state(record.thread_id, checkpoint_id)
        if snapshot.metadata is None or checkpoint_id_of(snapshot) != checkpoint_id:
            raise NotFound(f"checkpoint {checkpoint_id} not found in this thread")
        return snapshot

    def _history_page(self, record: ThreadRecord, limit: int,
                      before: str | None) -> list[tuple[StateSnapshot, StateSnapshot | None]]:
        """Up to `limit` snapshots, newest first, each with its parent (to name its writer)."""
        limit, _ = page_bounds(limit, 0)
        storable_text(before or "", "the checkpoint id")
        config = thread_config(record.thread_id)
        before_config = thread_config(record.thread_id, before) if before else None
        snapshots = guarded(lambda: list(
            self.graph.get_state_history(config, limit=limit + 1, before=before_config)))
        by_id = {checkpoint_id_of(s): s for s in snapshots}
        page = []
        for snapshot in snapshots[:limit]:
            parent_id = _parent_id(snapshot)
            parent = by_id.get(parent_id) if parent_id else None
            if parent_id and parent is None:  # on another branch: one more read
                parent = self.turns.state(record.thread_id, parent_id)
            page.append((snapshot, parent))
        return page

    def _checkpoint_info(self, snapshot: StateSnapshot, parent: StateSnapshot | None,
                         record: ThreadRecord) -> CheckpointInfo:
        values = snapshot.values or {}
        messages = values.get("messages", [])
        parent_values = (parent.values or {}) if parent else {}
        source = snapshot.metadata.get("source", "loop")
        if source == "input":
            written_by: tuple[str, ...] = ("input",)
        elif source in ("update", "fork"):
            written_by = (source,)
        else:
            written_by = tuple(parent.next) if parent else ()
        in_words = step_in_words(
            source=source, written_by=written_by, next_nodes=tuple(snapshot.next),
            values=values, parent_values=parent_values if parent else None,
            arriving=_arriving(snapshot), pause=self._pause_words(record, snapshot),
            sensitive=frozenset(self.settings.approval_required))
        return CheckpointInfo(
            checkpoint_id=checkpoint_id_of(snapshot) or "",
            parent_id=_parent_id(snapshot),
            step=int(snapshot.metadata.get("step", 0)),
            source=source,
            written_by=written_by,
            next_nodes=tuple(snapshot.next),
            created_at=snapshot.created_at or "",
            message_count=len(messages),
            size_bytes=len(self.persistence.checkpointer.serde.dumps_typed(values)[1]),
            can_fork=bool(messages) and isinstance(messages[-1], HumanMessage)
            and source != "input",
            awaiting_approval=bool(snapshot.interrupts),
            message=_step_message(snapshot, messages),
            in_words=in_words,
        )

    def _pause_words(self, record: ThreadRecord, snapshot: StateSnapshot) -> str | None:
        """How the pause at this checkpoint reads (still waiting, or answered), else None."""
        if not snapshot.interrupts:
            return None
        # An interrupt stays on its checkpoint after the answer; the task's result (the
        # node's writes once resumed) tells a pause still open from one answered.
        still_open = any(task.interrupts and task.result is None for task in snapshot.tasks)
        approvals = [payload for i in snapshot.interrupts
                     if (payload := approval_payload(i.value)) is not None]
        if not approvals:
            return "Waiting for a person from our team" if still_open \
                else "Waited for a person from our team"
        if still_open:
            # The words the customer's waiting notice uses, with the amount.
            words = [p.in_words or request_words(p.action, p.arguments)
                     for p in self._approvals_in(record, snapshot)]
            return "Waiting for a supervisor to approve " + " and ".join(words or ["an action"])
        words = [request_words(str(v.get("action", "")), dict(v.get("arguments") or {}))
                 for v in approvals]
        return "Waited for a supervisor to approve " + " and ".join(words)


def _parent_id(snapshot: StateSnapshot) -> str | None:
    return (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")


def _arriving(snapshot: StateSnapshot) -> list[AnyMessage]:
    """The messages an input checkpoint receives (its __start__ task's result), else []."""
    if snapshot.metadata.get("source") != "input":
        return []
    found: list[AnyMessage] = []
    for task in snapshot.tasks:
        result = task.result if isinstance(task.result, dict) else {}
        found += [m for m in result.get("messages") or [] if isinstance(m, BaseMessage)]
    return found


def _step_message(snapshot: StateSnapshot, messages: list[AnyMessage]) -> str:
    """The customer message a step belongs to: the one arriving, or the newest in its state."""
    for message in [*reversed(_arriving(snapshot)), *reversed(messages)]:
        if isinstance(message, HumanMessage):
            return message.text
    return ""
