"""Running turns: one at a time per thread, streamed, with the registry kept in step.

A turn takes the thread's lock, marks the thread `running`, streams the graph with
`durability="sync"` (every step's checkpoint is written before the next step starts), and
records the outcome (active, awaiting_approval, interrupted) before letting the lock go.
A process that dies mid-turn leaves `running` behind with the lock free; `reconcile` turns
that into the status the checkpoints show, and the next run resumes the pending work first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, RemoveMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from agent.crash import CrashSwitch
from agent.errors import SupportError, ThreadBusy
from agent.model.factory import model_error
from agent.persistence.db import as_unavailable
from agent.persistence.locks import Lease, ThreadLocks
from agent.persistence.threads import ThreadRecord, ThreadRegistry, ThreadStatus
from agent.settings import Settings
from agent.state import SupportContext
from agent.views import (
    ApprovalRequestedEvent,
    ChatEvent,
    HousekeepingEvent,
    PendingApproval,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnEndedEvent,
)

T = TypeVar("T")
# What a turn runs: (graph input, config) pairs in order; config None means the thread's head.
Plan = list[tuple[Any, dict[str, Any] | None]]
DescribeApproval = Callable[[ThreadRecord, str, dict[str, Any]], PendingApproval]


def thread_config(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    """The LangGraph config addressing a thread (or one of its checkpoints)."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint_id_of(snapshot: StateSnapshot) -> str | None:
    """The id of the checkpoint a snapshot shows."""
    return (snapshot.config or {}).get("configurable", {}).get("checkpoint_id")


def has_pending_work(head: StateSnapshot) -> bool:
    """True if the head checkpoint has steps to run, or ran ones whose checkpoint is missing.

    `head.next` alone misses the second case: LangGraph applies a finished step's saved writes
    to the live state and drops it from `next`, but the step's checkpoint was never written
    (the process died, or the run stopped) and the steps after it have not run.
    """
    return bool(head.tasks)


def guarded(read: Callable[[], T]) -> T:
    """Run a read, turning a database failure into a user-facing Unavailable."""
    try:
        return read()
    except SupportError:
        raise
    except Exception as exc:
        translated = as_unavailable(exc)
        if translated is not None:
            raise translated from exc
        raise


class TurnStream(Iterator[ChatEvent]):
    """The events of one turn. Holds the thread's lock until exhausted or closed."""

    def __init__(self, events: Generator[ChatEvent, None, None], on_close: Callable[[], None]):
        self._events = events
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> TurnStream:
        return self

    def __next__(self) -> ChatEvent:
        try:
            event = next(self._events)
        except BaseException:
            self.close()
            raise
        if isinstance(event, TurnEndedEvent):
            self.close()  # the turn is over: free the thread even if nobody reads further
        return event

    def close(self) -> None:
        """Stop the run if it is still going and release the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._events.close()
        finally:
            self._on_close()

    def __enter__(self) -> TurnStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A stream dropped unread must not keep its thread locked.
        with contextlib.suppress(Exception):
            self.close()


class TurnRunner:
    """Starts turns under the thread lock and keeps the registry's status true."""

    def __init__(self, graph: CompiledStateGraph, registry: ThreadRegistry, locks: ThreadLocks,
                 settings: Settings, describe_approval: DescribeApproval):
        self.graph = graph
        self.registry = registry
        self.locks = locks
        self.settings = settings
        self.describe_approval = describe_approval
        self.crash = CrashSwitch(settings.crash_at)
        self.wait_seconds = settings.busy_wait_seconds if settings.busy_policy == "wait" else 0.0
        self._open: weakref.WeakSet[TurnStream] = weakref.WeakSet()

    def state(self, thread_id: str, checkpoint_id: str | None = None) -> StateSnapshot:
        """The thread's state at its head (or at a checkpoint)."""
        return guarded(lambda: self.graph.get_state(thread_config(thread_id, checkpoint_id)))

    def start(self, record: ThreadRecord, prepare: Callable[[StateSnapshot], Plan], *,
              discard_if_empty: bool = False) -> TurnStream:
        """Take the lock, let `prepare` check the head state and plan, then stream the plan.

        `prepare` runs under the lock, so what it checks (an approval still waiting, pending
        work to resume) cannot change before the run starts. Its errors release the lock.
        """
        lock = contextlib.ExitStack()
        lease = lock.enter_context(self.locks.hold(record.thread_id, self.wait_seconds))
        try:
            plan = prepare(self.state(record.thread_id))
            self.registry.set_status(record.thread_id, "running")
        except BaseException:
            lock.close()
            raise
        stream: TurnStream

        def release() -> None:
            self._open.discard(stream)
            lock.close()

        stream = TurnStream(self._run(record, plan, lease, discard_if_empty), release)
        self._open.add(stream)
        return stream

    def reconcile(self, record: ThreadRecord) -> ThreadRecord:
        """Fix a `running` status left by a process that died mid-turn."""
        if record.status != "running":
            return record
        try:
            with self.locks.hold(record.thread_id, 0):
                status = self.record_status(record, self.state(record.thread_id))
        except ThreadBusy:
            return record  # really running, in this or another process
        return dataclasses.replace(record, status=status)

    def record_status(self, record: ThreadRecord, snapshot: StateSnapshot) -> ThreadStatus:
        """Store (and return) the status the thread's head checkpoint implies."""
        if snapshot.interrupts:
            status: ThreadStatus = "awaiting_approval"
        elif has_pending_work(snapshot):
            status = "interrupted"
        else:
            status = "active"
        self.registry.set_status(record.thread_id, status)
        return status

    def close_all(self) -> None:
        """Stop every unfinished turn (before the connections they use are closed)."""
        for stream in list(self._open):
            stream.close()

    def _run(self, record: ThreadRecord, plan: Plan, lease: Lease,
             discard_if_empty: bool) -> Generator[ChatEvent, None, None]:
        context = SupportContext(user_id=record.user_id, tenant=record.tenant)
        finished = False
        try:
            for graph_input, config in plan:
                stream = self.graph.stream(graph_input, config or thread_config(record.thread_id),
                                           context=context, stream_mode=["messages", "updates"],
                                           durability="sync")
                try:
                    for mode, data in stream:
                        if mode == "updates":
                            # A step just finished and its checkpoint is not written yet: if
                            # the lock was lost meanwhile, stop before writing it.
                            lease.verify()
                        yield from self._events(record, mode, data)
                finally:
                    stream.close()  # stops LangGraph's workers before anything else closes
            snapshot = self.state(record.thread_id)
            if snapshot.interrupts:
                self.crash.reached("awaiting_approval")
            status = self.record_status(record, snapshot)
            messages = (snapshot.values or {}).get("messages", [])
            reply = messages[-1].text if messages and isinstance(messages[-1], AIMessage) else ""
            finished = True
            yield TurnEndedEvent(record.thread_id, status, reply, checkpoint_id_of(snapshot))
        except Exception as exc:
            finished = True
            database_down = as_unavailable(exc) is not None
            if not database_down:  # reading the state now would only wait for it again
                self._after_failure(record, discard_if_empty)
            translated = as_unavailable(exc) or model_error(exc)
            if translated is not None:
                raise translated from exc
            raise
        finally:
            if not finished:  # abandoned by its reader: leave a true status behind
                self._after_failure(record, False)

    def _events(self, record: ThreadRecord, mode: str, data: Any) -> Iterator[ChatEvent]:
        if mode == "messages":
            chunk, metadata = data
            if metadata.get("langgraph_node") == "agent" and chunk.text:
                yield TokenEvent(chunk.text)
            return
        for node, update in data.items():
            if node == "__interrupt__":
                for pending in update:
                    yield ApprovalRequestedEvent(
                        self.describe_approval(record, pending.id, pending.value))
                continue
            new_messages = (update or {}).get("messages", []) if isinstance(update, dict) else []
            removed = [m for m in new_messages if isinstance(m, RemoveMessage)]
            if node in ("summarize", "prune") and removed:
                yield HousekeepingEvent(node, len(removed))
            for message in new_messages:
                if isinstance(message, AIMessage) and node == "agent":
                    for call in message.tool_calls:
                        yield ToolCallEvent(call["name"], call["args"],
                                            call["name"] in self.settings.approval_required)
                elif isinstance(message, ToolMessage):
                    yield ToolResultEvent(message.name or "", message.text,
                                          message.status != "error")

    def _after_failure(self, record: ThreadRecord, discard_if_empty: bool) -> None:
        try:
            snapshot = self.graph.get_state(thread_config(record.thread_id))
            if discard_if_empty and not snapshot.values:
                # The first message never reached a checkpoint: no thread without a turn in it.
                # Once it did, the thread stays (interrupted) and its message is kept.
                self.registry.delete(record.thread_id)
            else:
                self.record_status(record, snapshot)
        except Exception:  # the original failure is what the caller needs to see
            pass
