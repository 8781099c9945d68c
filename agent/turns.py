"""Running turns: one at a time per thread, streamed, with the registry kept in step.

A turn takes the thread's lock, marks the thread `running`, streams the graph with
`durability="sync"` (every step's checkpoint is written before the next step starts), and
records the outcome (active, awaiting_approval, interrupted) before letting the lock go.
A process that dies mid-turn leaves `running` behind with the lock free; `reconcile` turns
that into the status the checkpoints show, and the next run resumes the pending work first.

A lock that can be lost while held (a Redis key, a PostgreSQL session) is fenced: before each
write the turn checks that the lock is still its own and that the thread's head is still the
checkpoint it started from or one it wrote itself (`Fence`), so a turn that lost its lock stops
instead of growing a second line of history beside the request that took the thread over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, RemoveMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot

from agent.core.approval import approval_payload
from agent.crash import CrashSwitch
from agent.domain.attachments import AttachmentRef, human_message
from agent.errors import NotFound, SupportError, ThreadBusy, Unavailable
from agent.model.factory import model_error
from agent.persistence.db import as_unavailable
from agent.persistence.locks import Lease, ThreadLocks
from agent.persistence.threads import ThreadRecord, ThreadRegistry, ThreadStatus
from agent.settings import Settings
from agent.state import SupportContext
from agent.tools.registry import progress_words
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


@dataclasses.dataclass(frozen=True)
class Run:
    """One graph run of a turn: its input, and where it starts (None: the thread's head)."""

    input: Any = None
    config: dict[str, Any] | None = None

    @classmethod
    def pending_work(cls) -> Run:
        """Finish the tasks the head left pending (a crash, an approved call)."""
        return cls()

    @classmethod
    def message(cls, text: str, attachments: Sequence[AttachmentRef] = ()) -> Run:
        """A customer's message (with references to its attachments), from the head."""
        return cls({"messages": [human_message(text, attachments)]})

    @classmethod
    def decisions(cls, resume: dict[str, Any]) -> Run:
        """Supervisors' decisions, by interrupt id, resuming the paused run."""
        return cls(Command(resume=resume))

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any]) -> Run:
        """Run on from a checkpoint (a replay or a fork's branch point)."""
        return cls(None, config)


# What a turn runs, in order; a Planner checks the head state (under the lock) and plans.
Plan = tuple[Run, ...]
Planner = Callable[[StateSnapshot], Plan]
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


def implied_status(snapshot: StateSnapshot) -> ThreadStatus:
    """The registry status a thread's head checkpoint implies."""
    return status_from(bool(snapshot.interrupts), has_pending_work(snapshot),
                       snapshot.values or {})


def status_from(interrupted: bool, pending_work: bool, values: dict[str, Any]) -> ThreadStatus:
    """The registry status of a head that waits on interrupts, has work left, or neither."""
    if interrupted:
        return "awaiting_approval"
    if pending_work:
        return "interrupted"
    if values.get("handoff"):
        return "handoff"
    return "active"


def last_reply(values: dict[str, Any]) -> str:
    """The assistant's reply that ends a state's messages ("" if the last is not one)."""
    messages = values.get("messages") or []
    return messages[-1].text if messages and isinstance(messages[-1], AIMessage) else ""


class RunOutcome:
    """Where a run left the thread, from what it streamed: no read of the head afterwards.

    The last "checkpoints" event is the head (its values, and the tasks still to run), and an
    `__interrupt__` update means the run stopped for a supervisor.
    """

    def __init__(self) -> None:
        self.head: dict[str, Any] | None = None
        self.interrupted = False

    def starting(self) -> None:
        """A new run of the plan starts: only its own interrupts count."""
        self.interrupted = False

    def saw(self, mode: str, data: Any) -> None:
        """Note a streamed event."""
        if mode == "checkpoints":
            self.head = data
        elif mode == "updates" and isinstance(data, dict) and "__interrupt__" in data:
            self.interrupted = True

    def result(self) -> tuple[ThreadStatus, str, str | None] | None:
        """(status, the reply, the head checkpoint id), or None if no checkpoint was seen."""
        if self.head is None:
            return None
        values = self.head.get("values") or {}
        status = status_from(self.interrupted, bool(self.head.get("tasks")), values)
        return status, last_reply(values), self.head["config"]["configurable"].get("checkpoint_id")


def flush_kept_writes(graph: CompiledStateGraph) -> None:
    """Send the task writes a saver keeps for its next checkpoint (see TurnSessionSaver)."""
    flush = getattr(graph.checkpointer, "flush", None)
    if callable(flush):
        flush()


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


class Fence:
    """Stops a turn before it writes once its lock is lost or another writer moved the head.

    The head must be the checkpoint the turn started from (read under the lock, after
    `prepare`) or one the turn wrote itself: checkpoint ids grow with time, so any other
    writer's checkpoint becomes the head. Locks that end only with their holder (a flock, an
    in-process lock) need no checks, and get none.
    """

    def __init__(self, lease: Lease, read_head: Callable[[], str | None], sends_input: bool,
                 fenced_by_session: bool = False):
        self.lease = lease
        self._read_head = read_head
        # Writes sent through the lock's own session need no checks: they fail once it is gone.
        self.active = lease.can_be_lost and not fenced_by_session
        self.fenced_by_session = fenced_by_session
        self.start = read_head() if self.active else None
        self.written: set[str] = set()
        # Whether the turn carries something the user sent (a message, a decision) and whether
        # it reached a checkpoint: that decides if the user must send it again.
        self.sends_input = sends_input
        self.input_saved = False
        self.lost = False

    def saw(self, checkpoint_id: str | None, *, carries_input: bool) -> None:
        """Note a checkpoint the run announced; newer than the start means this turn wrote it."""
        if checkpoint_id and (self.start is None or checkpoint_id > self.start):
            self.written.add(checkpoint_id)
            self.input_saved = self.input_saved or carries_input

    def check(self) -> None:
        """Raise (and remember) the truth if the turn may no longer write to the thread."""
        if not self.active:
            return
        held = self.lease.held()
        if held and not self._head_moved():
            return
        self.lost = True
        if held:
            raise self._error(f"thread {self.lease.thread_id} was changed by another writer "
                              "while this turn ran", taken_over=True)
        # A holder that has come and gone shows only by what it wrote.
        if self.lease.taken_over() or self._head_moved(quiet=True):
            raise self._error(f"thread {self.lease.thread_id} was taken over by another "
                              "request while this one ran (its lock was lost)", taken_over=True)
        raise self._error(f"lost the lock on thread {self.lease.thread_id} mid-turn (its Redis "
                          "key or database session went away)", taken_over=False)

    def _head_moved(self, *, quiet: bool = False) -> bool:
        """True if the head is a checkpoint this turn neither started from nor wrote."""
        try:
            return self._read_head() not in {self.start, *self.written}
        except SupportError:
            if quiet:  # the database went with the lock: nothing more to learn
                return False
            raise

    def still_held(self) -> bool:
        """True unless the lock is known to be lost (then the registry belongs to others)."""
        if self.fenced_by_session:
            # The turn's writes go through the lock's session: the last one found it alive.
            return not self.lost
        return not self.lost and self.lease.held()

    def _error(self, what: str, *, taken_over: bool) -> SupportError:
        if self.sends_input and not self.input_saved:
            advice = "what you sent was not saved, so nothing changed: try again"
            advice += " in a moment" if taken_over else ""
        else:
            # Sending it again would store it twice: say what finishes it instead.
            saved = "what you sent was saved, so do not send it again" if self.sends_input \
                else "the work done so far was saved"
            if taken_over:
                advice = f"{saved}: the request now working on the thread finishes it (or " \
                         "else your next message, or `support-agent resume`, does)"
            else:
                advice = f"{saved}: to finish it, try again with `support-agent resume`, or " \
                         "just send your next message and it is finished first"
        error_type = ThreadBusy if taken_over else Unavailable
        return error_type(f"{what}; {advice}")


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
                 settings: Settings, describe_approval: DescribeApproval, *,
                 checkpointer_on_session: Callable[[Any], Any] | None = None,
                 database_on_session: Callable[[Any], Any] | None = None):
        self.graph = graph
        # Given a lock's database session, the saver writing through it (PostgreSQL advisory
        # locks); None when locks and checkpoints live apart (files, Redis, memory).
        self.checkpointer_on_session = checkpointer_on_session
        # Likewise the app database over it: a turn's last status write rides with the unlock.
        self.database_on_session = database_on_session
        self.registry = registry
        self.locks = locks
        self.settings = settings
        self.describe_approval = describe_approval
        self.crash = CrashSwitch(settings.crash_at)
        self.wait_seconds = settings.busy_wait_seconds if settings.busy_policy == "wait" else 0.0
        self._open: weakref.WeakSet[TurnStream] = weakref.WeakSet()
        # Told what happened to a thread (its status, or "approval_decided") and at which
        # checkpoint: the desk publishes live updates through it. Must never raise.
        self.announce: Callable[[ThreadRecord, str, str | None], None] = lambda *_: None

    def state(self, thread_id: str, checkpoint_id: str | None = None, *,
              graph: CompiledStateGraph | None = None) -> StateSnapshot:
        """The thread's state at its head (or at a checkpoint)."""
        graph = graph or self.graph
        return guarded(lambda: graph.get_state(thread_config(thread_id, checkpoint_id)))

    def graph_for(self, lease: Lease) -> CompiledStateGraph:
        """The graph a turn under `lease` runs: writing through the lock's own session when
        it has one (the session fences the writes), else the shared one."""
        if lease.session is None or self.checkpointer_on_session is None:
            return self.graph
        return self.graph.copy(update={"checkpointer": self.checkpointer_on_session(
            lease.session)})

    def start(self, record: ThreadRecord, prepare: Planner, *,
              discard_if_empty: bool = False) -> TurnStream:
        """Take the lock, let `prepare` check the head state and plan, then stream the plan.

        `prepare` runs under the lock, so what it checks (an approval still waiting, pending
        work to resume) cannot change before the run starts. Its errors release the lock.
        """
        lock = contextlib.ExitStack()
        lease = lock.enter_context(self.locks.hold(record.thread_id, self.wait_seconds))
        try:
            graph = self.graph_for(lease)
            plan = prepare(self.state(record.thread_id, graph=graph))
            self._mark_running(record, graph, lease)
            # The head after `prepare` (a fork writes its branch point there) fences the run.
            fence = Fence(lease, lambda: self.head_id(record.thread_id),
                          sends_input=any(run.input is not None for run in plan),
                          fenced_by_session=graph is not self.graph)
        except BaseException:
            lock.close()
            raise
        stream: TurnStream
        told_after_release: list[tuple[ThreadRecord, str, str | None]] = []

        def release() -> None:
            self._open.discard(stream)
            lock.close()
            for news in told_after_release:  # a status written with the unlock is out now
                self.announce(*news)

        stream = TurnStream(self._run(graph, record, plan, fence, discard_if_empty,
                                      told_after_release), release)
        self._open.add(stream)
        return stream

    def _mark_running(self, record: ThreadRecord, graph: CompiledStateGraph,
                      lease: Lease) -> None:
        """Record that a turn runs (for `reconcile`, should its process die)."""
        send_along = getattr(graph.checkpointer, "send_with_next_write", None)
        if graph is self.graph or self.database_on_session is None or send_along is None:
            self.registry.set_status(record.thread_id, "running")
        else:
            # On the lock's session, in the transaction of the run's first checkpoint: a
            # process dying before that wrote nothing, so there is nothing to reconcile.
            registry = self.registry.on(self.database_on_session(lease.session))
            send_along(lambda _cursor: registry.set_status(record.thread_id, "running"))
        self.announce(record, "running", None)

    @contextlib.contextmanager
    def holding(self, record: ThreadRecord) -> Iterator[ThreadRecord]:
        """Hold the thread's lock as a turn would (same busy policy), with a true status.

        For changes that must not race a turn (closing a thread): while the lock is held no
        turn runs, so a `running` status is one a dead process left, and is corrected first.
        """
        with self.locks.hold(record.thread_id, self.wait_seconds):
            current = self.registry.get(record.thread_id)
            if current is None:
                raise NotFound("thread not found")  # deleted meanwhile
            if current.status == "running":
                status = self.record_status(current, self.state(current.thread_id))
                current = dataclasses.replace(current, status=status)
            yield current

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

    def record_status(self, record: ThreadRecord, snapshot: StateSnapshot, *,
                      kind: str | None = None) -> ThreadStatus:
        """Store (and return) the status the thread's head checkpoint implies."""
        status = implied_status(snapshot)
        self._store_status(record, status, checkpoint_id_of(snapshot), kind=kind)
        return status

    def _store_status(self, record: ThreadRecord, status: ThreadStatus,
                      checkpoint_id: str | None, *, kind: str | None = None) -> None:
        self.registry.set_status(record.thread_id, status)
        self.announce(record, kind or status, checkpoint_id)

    def _read_outcome(self, thread_id: str,
                      graph: CompiledStateGraph) -> tuple[ThreadStatus, str, str | None]:
        """The outcome read from the head (a plan whose runs wrote no checkpoint)."""
        snapshot = self.state(thread_id, graph=graph)
        return (implied_status(snapshot), last_reply(snapshot.values or {}),
                checkpoint_id_of(snapshot))

    def head_id(self, thread_id: str) -> str | None:
        """The id of the thread's newest checkpoint (None for a thread without one)."""
        saved = guarded(lambda: self.graph.checkpointer.get_tuple(thread_config(thread_id)))
        return (saved.config.get("configurable", {}).get("checkpoint_id")
                if saved is not None else None)

    def close_all(self) -> None:
        """Stop every unfinished turn (before the connections they use are closed)."""
        for stream in list(self._open):
            stream.close()

    def _run(self, graph: CompiledStateGraph, record: ThreadRecord, plan: Plan, fence: Fence,
             discard_if_empty: bool,
             told_after_release: list[tuple[ThreadRecord, str, str | None]],
             ) -> Generator[ChatEvent, None, None]:
        context = SupportContext(user_id=record.user_id, tenant=record.tenant)
        finished = False
        outcome = RunOutcome()
        try:
            for run in plan:
                outcome.starting()
                graph_input, config = run.input, run.config
                fence.check()  # starting a run writes at once (its input checkpoint)
                stream = graph.stream(graph_input, config or thread_config(record.thread_id),
                                           context=context,
                                           stream_mode=["messages", "updates", "checkpoints"],
                                           durability="sync")
                try:
                    for mode, data in stream:
                        outcome.saw(mode, data)
                        if mode == "checkpoints":
                            fence.saw(data["config"]["configurable"].get("checkpoint_id"),
                                      carries_input=graph_input is not None)
                            continue
                        if mode == "updates":
                            # A step just finished and its checkpoint is not written yet: if
                            # the lock was lost or the head moved meanwhile, stop before it is.
                            fence.check()
                        yield from self._events(record, mode, data)
                except BaseException:
                    stream.close()
                    # Finished tasks' writes a saver kept for a checkpoint that will not come.
                    with contextlib.suppress(Exception):
                        flush_kept_writes(graph)
                    raise
                stream.close()  # stops LangGraph's workers before anything else closes
                flush_kept_writes(graph)
            ended = outcome.result() or self._read_outcome(record.thread_id, graph)
            status, reply, head_id = ended
            if status == "awaiting_approval":
                self.crash.reached("awaiting_approval")
            # Lost after the last write: the turn is done, but the status is the new holder's.
            if fence.still_held():
                decided = any(isinstance(run.input, Command) for run in plan)
                kind = "approval_decided" if decided else None
                if fence.fenced_by_session and self.database_on_session is not None:
                    registry = self.registry.on(self.database_on_session(fence.lease.session))
                    fence.lease.release_with(
                        lambda _session: registry.set_status(record.thread_id, status))
                    told_after_release.append((record, kind or status, head_id))
                else:
                    self._store_status(record, status, head_id, kind=kind)
            finished = True
            yield TurnEndedEvent(record.thread_id, status, reply, head_id)
        except Exception as exc:
            finished = True
            if fence.lost:
                # The thread is someone else's now: its status is theirs to write. Only a new
                # thread this turn never wrote to is ours to remove (nobody else knows its id).
                if discard_if_empty and fence.start is None and not fence.written:
                    self._after_failure(record, True)
                raise
            database_down = as_unavailable(exc) is not None
            if not database_down:  # reading the state now would only wait for it again
                self._after_failure(record, discard_if_empty)
            translated = as_unavailable(exc) or model_error(exc)
            if translated is not None:
                raise translated from exc
            raise
        finally:
            if not finished and fence.still_held():  # abandoned: leave a true status behind
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
                    payload = approval_payload(pending.value)
                    if payload is not None:
                        yield ApprovalRequestedEvent(
                            self.describe_approval(record, pending.id, payload))
                continue
            new_messages = (update or {}).get("messages", []) if isinstance(update, dict) else []
            removed = [m for m in new_messages if isinstance(m, RemoveMessage)]
            if node in ("summarize", "prune") and removed:
                yield HousekeepingEvent(node, len(removed))
            for message in new_messages:
                if isinstance(message, AIMessage) and node == "agent":
                    for call in message.tool_calls:
                        yield ToolCallEvent(call["name"], call["args"],
                                            call["name"] in self.settings.approval_required,
                                            progress_words(call))
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
