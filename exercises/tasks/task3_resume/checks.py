"""Task 3 checks: a run killed part-way resumes from its SQLite checkpoints without redoing work.

Each crash check starts the learner's `run` with slow nodes, watches the SQLite file until the
checkpoint after a chosen node appears, SIGKILLs the process, and then calls `resume` in a new
process. What the graph really did is read from the file and from the step counters, never from
what the learner's functions say about themselves.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.grader.forking import Forked
from exercises.grader.timeline import timeline
from exercises.kit import ORDERS, StepCounter
from exercises.tasks import Task
from exercises.tasks.task3_resume.starter import NODE_NAMES, RefundState

NODES = NODE_NAMES
SLOW = 0.5           # seconds each node sleeps in the run that gets killed
WATCH_SECONDS = 10.0  # how long to wait for the checkpoint to kill after
FINISH_SECONDS = 10.0  # how long resume(), or run() without slow nodes, may take
POLL = 0.02
REASONS = ("the boots leak", "it arrived two weeks late", "I ordered the wrong size",
           "I changed my mind", "it was a gift they already had", "the colour is wrong")
_SERDE = JsonPlusSerializer()


# --- scenarios: these run in fresh processes, the only place learner code runs ---------------

def _run(learner: ModuleType, db_path: str, thread_id: str, request: str, counter_path: str,
         delay: float) -> dict[str, Any]:
    run = require_function(learner, "run")
    return _plain(run(db_path, thread_id, request, StepCounter(counter_path, delay=delay)))


def _resume(learner: ModuleType, db_path: str, thread_id: str,
            counter_path: str) -> dict[str, Any]:
    resume = require_function(learner, "resume")
    return _plain(resume(db_path, thread_id, StepCounter(counter_path)))


def _plain(value: Any) -> dict[str, Any]:
    """What a learner's function returned, as JSON: the state if it is a mapping, else its type."""
    if isinstance(value, Mapping):
        return {"state": {str(key): _jsonable(item) for key, item in value.items()}}
    return {"type": type(value).__name__, "repr": repr(value)[:300]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseMessage):  # messages compare by type and content, not by id
        return {"type": value.type, "content": value.content}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


# --- reading the learner's SQLite file (the orchestrator's own connections) ------------------

def _completed(db_path: Path, thread_id: str) -> list[str] | None:
    """The nodes the thread's newest checkpoint has seen finish, or None if it has none yet."""
    if not db_path.exists():
        return None
    try:
        with closing(sqlite3.connect(db_path, timeout=1)) as db:
            row = db.execute("SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND "
                             "checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
                             (thread_id,)).fetchone()
    except sqlite3.Error:  # no table yet, or busy for a moment: look again on the next poll
        return None
    if row is None:
        return None
    seen = _SERDE.loads_typed((row[0], row[1])).get("versions_seen", {})
    return [node for node in NODES if node in seen]


def _timeline(db_path: Path, thread_id: str) -> list[dict[str, Any]]:
    if not db_path.exists():
        return []
    with closing(sqlite3.connect(db_path, check_same_thread=False)) as db:
        try:
            return timeline(SqliteSaver(db), thread_id)
        except sqlite3.Error:
            return []


def _threads(db_path: Path) -> list[str]:
    if not db_path.exists():
        return []
    try:
        with closing(sqlite3.connect(db_path)) as db:
            return [r[0] for r in db.execute("SELECT DISTINCT thread_id FROM checkpoints")]
    except sqlite3.Error:
        return []


def _snapshot(db_path: Path, thread_id: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(what is left to run, the values) of the thread, as the given pipeline sees it."""
    builder = StateGraph(RefundState)
    # Stand-in nodes with the pipeline's names: only the topology matters to get_state.
    builder.add_sequence([(name, lambda state: {}) for name in NODES])
    builder.add_edge(START, NODES[0])
    with closing(sqlite3.connect(db_path, check_same_thread=False)) as db:
        snapshot = builder.compile(checkpointer=SqliteSaver(db)).get_state(
            {"configurable": {"thread_id": thread_id}})
    return tuple(snapshot.next), dict(snapshot.values)


def _no_checkpoints(db_path: Path, thread_id: str) -> str:
    threads = _threads(db_path)
    if not db_path.exists():
        return f"the SQLite file {db_path.name} was never created"
    if threads:
        return (f"{db_path.name} has no checkpoints for thread {thread_id!r}, only for "
                f"{', '.join(map(repr, threads[:4]))}")
    return f"{db_path.name} has no checkpoints at all"


# --- the experiment ---------------------------------------------------------------------------

@dataclass
class Crash:
    """A learner run killed after a node's checkpoint appeared."""

    db_path: Path
    thread_id: str
    request: str
    completed: list[str]  # finished before the kill, per the newest checkpoint

    @property
    def remaining(self) -> list[str]:
        """The nodes a resume still has to run."""
        return [node for node in NODES if node not in self.completed]

    def after(self) -> list[dict[str, Any]]:
        """The thread's timeline now."""
        return _timeline(self.db_path, self.thread_id)


def _request(context: CheckContext) -> str:
    order_id = context.rng.choice(sorted(ORDERS))
    return f"Please refund {order_id}, {context.rng.choice(REASONS)}."


def _thread(context: CheckContext, kind: str) -> str:
    return f"{kind}-{context.rng.randrange(10**6):06d}"


def _crash_after(context: CheckContext, node: str) -> Crash:
    """Start run() with slow nodes; SIGKILL it as soon as the checkpoint after `node` exists."""
    db_path, thread_id = context.workdir / "refunds.db", _thread(context, "refund")
    request = _request(context)
    wanted = set(NODES[: NODES.index(node) + 1])
    forked = context.start(_run, str(db_path), thread_id, request,
                           str(context.workdir / "run-steps.jsonl"), SLOW)
    deadline = time.monotonic() + WATCH_SECONDS
    try:
        while True:
            done = _completed(db_path, thread_id)
            if done is not None and wanted <= set(done):
                break
            if forked.poll() is not None:
                _ended_early(context, forked, db_path, thread_id, node)
            if time.monotonic() > deadline:
                state = (_no_checkpoints(db_path, thread_id) if done is None else
                         f"the newest one had seen {', '.join(done) or 'no node'} finish")
                raise CheckFailed(
                    f"ran run(db_path, {thread_id!r}, {request!r}, counter) with each node "
                    f"taking {SLOW:g} s; after {WATCH_SECONDS:g} s there was still no checkpoint "
                    f"after {node} ({state})", timeline=_timeline(db_path, thread_id),
                    expected=f"a checkpoint in the SQLite file as soon as {node} finishes")
            time.sleep(POLL)
    finally:
        if forked.poll() is None:
            forked.kill()
    # What had finished is read again after the kill: the node running then may have ended.
    completed = _completed(db_path, thread_id) or done
    if len(done) == len(NODES):
        raise CheckFailed(
            f"waited for the checkpoint after {node} in order to kill run() part-way, but the "
            f"first checkpoint that appeared in the file was the final one, saved as the run "
            "ended: a crash in the middle would have lost every step",
            timeline=_timeline(db_path, thread_id),
            expected="a checkpoint saved after each node while the run goes on (the default "
            "durability; not durability='exit')")
    return Crash(db_path, thread_id, request, completed)


def _ended_early(context: CheckContext, forked: Forked, db_path: Path, thread_id: str,
                 node: str) -> None:
    """run() ended before it could be killed: say why (its error, or its missing checkpoints)."""
    context.result(forked)  # raises the learner's own error, if run() failed
    rows = _timeline(db_path, thread_id)
    where = _no_checkpoints(db_path, thread_id) if not rows else (
        f"the thread's checkpoints were written by: {', '.join(r['node'] for r in rows)}")
    raise CheckFailed(
        f"run() finished without a checkpoint after {node} ever appearing in the SQLite file "
        f"while it ran, so there was nothing to resume from; {where}", timeline=rows,
        expected=f"run() saves a checkpoint after each of {', '.join(NODES)} into the SQLite "
        "file at db_path, on the thread it is given")


def _resume_after(context: CheckContext, crash: Crash) -> tuple[dict[str, Any], list[str]]:
    """Call resume() in a new process; its result and the nodes it ran."""
    steps = context.workdir / "resume-steps.jsonl"
    result = context.result(context.start(_resume, str(crash.db_path), crash.thread_id,
                                          str(steps)), timeout=FINISH_SECONDS)
    return result, [hit["node"] for hit in StepCounter(steps).hits()]


def _and(names: list[str]) -> str:
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]])) if names else "none"


def _plan(crash: Crash) -> str:
    return (f"run() was killed after {_and(crash.completed)} had finished and been "
            f"checkpointed; resume() should run only {_and(crash.remaining)}")


# --- checks -----------------------------------------------------------------------------------

def check_checkpoint_per_node(context: CheckContext) -> None:
    """While run() goes on, the SQLite file gets a checkpoint after every node."""
    db_path, thread_id = context.workdir / "refunds.db", _thread(context, "refund")
    request = _request(context)
    forked = context.start(_run, str(db_path), thread_id, request,
                           str(context.workdir / "run-steps.jsonl"), SLOW)
    seen_while_running: set[tuple[str, ...]] = set()
    deadline = time.monotonic() + WATCH_SECONDS + len(NODES) * SLOW
    while forked.poll() is None and time.monotonic() < deadline:
        done = _completed(db_path, thread_id)
        if done and forked.poll() is None:  # still running after the read: seen mid-run
            seen_while_running.add(tuple(done))
        time.sleep(POLL)
    # the learner's error, or a time-out, if any (the limit counts from the start)
    context.result(forked, timeout=WATCH_SECONDS + len(NODES) * SLOW)
    rows = _timeline(db_path, thread_id)
    expected = (f"a checkpoint after each of {', '.join(NODES)}, each saved as its node "
                "finishes")
    if not rows:
        raise CheckFailed(f"run(db_path, {thread_id!r}, {request!r}, counter) returned, but "
                          f"{_no_checkpoints(db_path, thread_id)}", timeline=rows,
                          expected=expected)
    missing = [node for node in NODES if not any(row["node"] == node for row in rows)]
    if missing:
        raise CheckFailed(f"after run() the thread has {len(rows)} checkpoint(s), written by "
                          f"{', '.join(row['node'] for row in rows)}; none was saved after "
                          f"{' or '.join(missing)} alone", timeline=rows, expected=expected)
    if not any(len(done) < len(NODES) for done in seen_while_running):
        raise CheckFailed("the checkpoints appeared in the file only when run() ended, none "
                          "while it was going", timeline=rows, expected=expected)


def check_resume_finishes(context: CheckContext) -> None:
    """After a crash, resume() in a new process finishes the thread's run."""
    crash = _crash_after(context, "read_request")
    _resume_after(context, crash)
    pending, values = _snapshot(crash.db_path, crash.thread_id)
    expected = f"{_plan(crash)}; then the thread's last checkpoint has nothing left to run"
    if pending:
        raise CheckFailed(f"{_plan(crash)}. After resume() returned, thread {crash.thread_id!r} "
                          f"still has {', '.join(pending)} left to run", timeline=crash.after(),
                          expected=expected)
    unset = [field for field in ("order_id", "decision", "reply") if not values.get(field)]
    if unset:
        raise CheckFailed(f"after resume() the thread's last checkpoint has nothing left to "
                          f"run, but {', '.join(unset)} is not set in it: {excerpt(values)}",
                          timeline=crash.after(), expected=expected)


def check_no_rerun(context: CheckContext) -> None:
    """resume() runs only what the crash left undone, never a node that had finished."""
    crash = _crash_after(context, "look_up_order")
    _, ran = _resume_after(context, crash)
    expected = (f"resume() runs only {_and(crash.remaining)} (the node that was running "
                "when the process was killed may run again; the finished ones may not)")
    if not ran:
        raise CheckFailed(f"{_plan(crash)}. In its new process resume() ran no node at all",
                          timeline=crash.after(), expected=expected)
    again = [node for node in ran if node in crash.completed]
    if again:
        raise CheckFailed(f"{_plan(crash)}. In its new process resume() ran "
                          f"{', '.join(ran)}: {_and(list(dict.fromkeys(again)))} ran a "
                          "second time", timeline=crash.after(), expected=expected)


def check_same_final_state(context: CheckContext) -> None:
    """The resumed run ends in the same state as a run that never crashed."""
    crash = _crash_after(context, "decide")
    reference = context.start(_run, str(context.workdir / "reference.db"),
                              _thread(context, "reference"), crash.request,
                              str(context.workdir / "reference-steps.jsonl"), 0.0)
    resumed, _ = _resume_after(context, crash)
    wanted = context.result(reference, timeout=FINISH_SECONDS)
    if "state" not in wanted or not wanted["state"].get("reply"):
        got = wanted.get("state") or wanted.get("repr")
        raise CheckFailed(f"run() without a crash returned {excerpt(got)}: the final state, "
                          "with its reply, was wanted",
                          expected="run() returns the final state dict (what invoke returns)")
    if "state" not in resumed:
        raise CheckFailed(f"resume() returned a {resumed['type']} ({excerpt(resumed['repr'])}), "
                          "not the final state dict", timeline=crash.after(),
                          expected=f"the state a run without a crash ends in: "
                                   f"{excerpt(wanted['state'], 300)}")
    got, want = resumed["state"], wanted["state"]
    differ = [key for key in sorted(set(got) | set(want)) if got.get(key) != want.get(key)]
    if differ:
        shown = "; ".join(f"{key}: {excerpt(got.get(key), 80)}" for key in differ)
        raise CheckFailed(f"{_plan(crash)}. resume() returned a state that differs from an "
                          f"uncrashed run's in {', '.join(differ)} — {shown}",
                          timeline=crash.after(),
                          expected="; ".join(f"{key}: {excerpt(want.get(key), 80)}"
                                             for key in differ))


TASK = Task(
    number=3, slug="task3_resume", title="Resume after a crash", minutes=45,
    checks=(
        Check("checkpoint-per-node", "a checkpoint is saved after every node", 3,
              "compile with the checkpointer you are given, and let run() save as it goes: a "
              "SqliteSaver on db_path, the thread_id you are given, the default durability",
              check_checkpoint_per_node),
        Check("resume-finishes", "resume() in a new process finishes the crashed run", 4,
              "in resume(), open the same SQLite file and invoke the graph with None as input "
              "on the same thread_id", check_resume_finishes),
        Check("no-rerun", "finished nodes do not run again after the crash", 5,
              "input None continues from the last checkpoint; passing the request again "
              "starts the thread over from START", check_no_rerun),
        Check("same-final-state", "the resumed run ends in the same state as an uncrashed one",
              4, "resume() returns what graph.invoke returns (the final state dict), built "
              "from the checkpointed values", check_same_final_state),
    ),
)
