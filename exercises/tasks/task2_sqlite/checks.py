"""Task 2 checks: a SqliteSaver agent whose conversations survive a restart of the process.

Each "process" below is a fresh fork that imports the learner's file anew, so nothing in memory
carries over between them: only what was written to disk. Every process also runs in a folder of
its own, as a restarted service might, so a path other than `db_path` cannot pass for it (and
the learner's stray files land in the grader's scratch folder, never where `grade` was run).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

# What a solution imports is imported once here, so the forked processes start with it loaded.
import langgraph.graph
import langgraph.prebuilt  # noqa: F401
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.sqlite import SqliteSaver

import exercises.kit  # noqa: F401
from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.grader.timeline import timeline
from exercises.tasks import Task

# --- scenarios: each runs in a fresh process, with the learner's module freshly imported ---


def _tell(learner: ModuleType, db_path: str, thread: str, name: str) -> dict[str, Any]:
    build_agent, ask = require_function(learner, "build_agent"), require_function(learner, "ask")
    return _as_reply(ask(build_agent(db_path), thread, f"Hi, my name is {name}."))


def _ask_name(learner: ModuleType, db_path: str, thread: str) -> dict[str, Any]:
    build_agent, ask = require_function(learner, "build_agent"), require_function(learner, "ask")
    return _as_reply(ask(build_agent(db_path), thread, "What's my name?"))


def _as_reply(value: Any) -> dict[str, Any]:
    # Say what ask() returned, so the grader can tell None or a message object from a reply.
    return {"text": str(value), "type": type(value).__name__, "ok": isinstance(value, str)}


def _saver_kind(learner: ModuleType, db_path: str) -> dict[str, Any]:
    graph = require_function(learner, "build_agent")(db_path)
    saver = getattr(graph, "checkpointer", None)
    return {"kind": type(saver).__name__ if saver is not None else "none",
            "sqlite": isinstance(saver, SqliteSaver)}


# --- the orchestrator's helpers ---


class _Run:
    """One check's setting: a database path, a thread, a customer, and fresh processes."""

    def __init__(self, context: CheckContext) -> None:
        self.context = context
        # The processes run elsewhere, so the learner's file must be found from anywhere.
        context.learner_path = context.learner_path.resolve()
        context.workdir = context.workdir.resolve()
        self.db_path = str(context.workdir / "support.db")
        self.thread = f"ticket-{context.rng.randrange(1000, 10000)}"
        (self.name,) = context.names(1)
        self._processes = 0

    def process(self, scenario: Any, *args: Any) -> Any:
        """Run a scenario in a fresh process, working in a new folder of its own."""
        self._processes += 1
        folder = self.context.workdir / f"process-{self._processes}"
        folder.mkdir()
        here = os.getcwd()
        os.chdir(folder)  # the fork inherits it; this check's own process is the only one moved
        try:
            forked = self.context.start(scenario, *args)
        finally:
            os.chdir(here)
        return self.context.result(forked)

    def tell(self) -> None:
        """Process 1: the customer gives their name on the thread (its reply is not judged)."""
        self.process(_tell, self.db_path, self.thread, self.name)

    def reply(self, found: Any, thread: str) -> str:
        """The text ask() returned on `thread`, or a failure if it did not return a string."""
        if not isinstance(found, dict) or not found.get("ok"):
            what = (f"a {found['type']} ({excerpt(found['text'])})"
                    if isinstance(found, dict) else excerpt(found))
            raise CheckFailed(f"ask() on thread {thread!r} returned {what}, not a string; return "
                              "the text of the last message (its .text)",
                              expected="the agent's reply, a str")
        return found["text"]

    def what_is_in_the_file(self) -> str:
        """What the grader finds at db_path (and beside it), as a clause for a message."""
        path = Path(self.db_path)
        if not path.exists():
            found = f"nothing existed at db_path ({path.name})"
        elif (tables := _tables(path)) is None:
            found = f"db_path ({path.name}) was not a SQLite database"
        elif "checkpoints" not in tables:
            found = (f"db_path ({path.name}) had no checkpoints table (its tables: "
                     f"{', '.join(sorted(tables)) or 'none'})")
        else:
            found = (f"db_path ({path.name}) held {_rows(path, self.thread)} checkpoint(s) of "
                     f"thread {self.thread!r}")
        stray = self.stray_files()
        return found + (f"; the other files your code wrote: {', '.join(stray)}" if stray else "")

    def stray_files(self) -> list[str]:
        """Files the learner's processes made other than db_path: where the memory went."""
        workdir = self.context.workdir
        found = [item for item in workdir.rglob("*")
                 if item.is_file() and item.name != Path(self.db_path).name
                 and not item.name.endswith(("-wal", "-shm", "-journal"))]  # SQLite's own
        return sorted(f"{item.name} (beside db_path)" if item.parent == workdir
                      else f"{item.name} (in its working directory)" for item in found)


def _tables(path: Path) -> set[str] | None:
    """The table names of an existing SQLite file, or None if it is not one."""
    try:
        with closing(sqlite3.connect(path)) as db:
            return {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return None


def _rows(path: Path, thread: str) -> int:
    """How many checkpoints of `thread` the file's checkpoints table holds."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?",
                          (thread,)).fetchone()[0]


def _threads(path: Path) -> list[str]:
    """The thread ids the file's checkpoints table holds (a few of them)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT DISTINCT thread_id FROM checkpoints LIMIT 5").fetchall()
    return [repr(row[0]) for row in rows]


def _saved_state(path: Path, thread: str) -> tuple[list[BaseMessage], list[dict[str, Any]]]:
    """The thread's latest messages and its timeline, as the grader's own SqliteSaver reads them."""
    with closing(sqlite3.connect(path, check_same_thread=False)) as db:
        saver = SqliteSaver(db)
        latest = saver.get_tuple({"configurable": {"thread_id": thread}})
        rows = timeline(saver, thread)
    messages = latest.checkpoint["channel_values"].get("messages", []) if latest else []
    return list(messages or []), rows


def _timeline_if_any(path: Path, thread: str) -> list[dict[str, Any]] | None:
    """The thread's timeline from the file, if the file holds LangGraph checkpoints at all."""
    if not path.exists() or "checkpoints" not in (_tables(path) or set()):
        return None
    return _saved_state(path, thread)[1]


# --- the checks ---


def check_restart(context: CheckContext) -> None:
    """A fresh process on the same db_path remembers what an earlier process was told."""
    run = _Run(context)
    run.tell()
    after_tell = run.what_is_in_the_file()
    reply = run.reply(run.process(_ask_name, run.db_path, run.thread), run.thread)
    if run.name not in reply:
        raise CheckFailed(
            f"process 1 was told \"Hi, my name is {run.name}.\" on thread {run.thread!r}; "
            f"process 2, a fresh one given the same db_path, was asked \"What's my name?\" on "
            f"that thread and replied {excerpt(reply)}. After process 1, {after_tell}.",
            timeline=_timeline_if_any(Path(run.db_path), run.thread),
            expected=f"a reply naming {run.name}")


def check_file(context: CheckContext) -> None:
    """The conversation is in LangGraph's checkpoints table of the SQLite file at db_path."""
    run = _Run(context)
    run.tell()
    path = Path(run.db_path)
    expected = (f"a SQLite file at db_path whose checkpoints table holds thread {run.thread!r}, "
                f"its latest state including \"Hi, my name is {run.name}.\"")
    if not path.exists() or "checkpoints" not in (_tables(path) or set()):
        raise CheckFailed(f"a fresh process was told \"Hi, my name is {run.name}.\" on thread "
                          f"{run.thread!r}; when it had ended, {run.what_is_in_the_file()}",
                          expected=expected)
    if not _rows(path, run.thread):
        raise CheckFailed(f"a fresh process was told \"Hi, my name is {run.name}.\" on thread "
                          f"{run.thread!r}; when it had ended, the checkpoints table at db_path "
                          f"had no rows for that thread (thread ids there: "
                          f"{', '.join(_threads(path)) or 'none'})",
                          expected=expected)
    messages, rows = _saved_state(path, run.thread)
    said = [m.text for m in messages if isinstance(m, BaseMessage) and m.type == "human"]
    if not any(run.name in text for text in said):
        raise CheckFailed(f"the latest checkpoint of thread {run.thread!r} in db_path holds "
                          f"{len(messages)} message(s); the customer's are "
                          f"{excerpt(said) if said else 'none'}", timeline=rows,
                          expected=expected)


def check_other_thread(context: CheckContext) -> None:
    """A fresh process on the same file, asked on another thread, does not know the name."""
    run = _Run(context)
    run.tell()
    other = f"{run.thread}-other"
    reply = run.reply(run.process(_ask_name, run.db_path, other), other)
    if not reply.strip():
        raise CheckFailed(f"ask() returned an empty reply on thread {other!r}; return the text "
                          "of the last message", expected="the agent's reply")
    if run.name in reply:
        raise CheckFailed(f"told {run.name!r} on thread {run.thread!r}; a fresh process asked "
                          f"on thread {other!r} replied {excerpt(reply)}",
                          timeline=_timeline_if_any(Path(run.db_path), other),
                          expected=f"no {run.name} on {other!r}")


def check_saver(context: CheckContext) -> None:
    """build_agent(db_path) compiles the graph with a SqliteSaver."""
    run = _Run(context)
    found = run.process(_saver_kind, run.db_path)
    if not isinstance(found, dict) or not found.get("sqlite"):
        kind = found.get("kind") if isinstance(found, dict) else found
        raise CheckFailed(f"build_agent(db_path) returned a graph whose checkpointer is {kind}",
                          expected="SqliteSaver (from langgraph.checkpoint.sqlite)")


TASK = Task(
    number=2, slug="task2_sqlite", title="SqliteSaver: memory that survives a restart",
    minutes=30,
    checks=(
        Check("restart-remembers", "a fresh process on the same file remembers the name", 4,
              "compile with SqliteSaver on a connection to db_path, so each checkpoint is "
              "written to the file; the next process loads the thread from there",
              check_restart),
        Check("checkpoints-in-file", "the conversation is checkpointed in the file at db_path",
              4, "open the database at the db_path you are given (not a fixed name, not "
              "':memory:') and let SqliteSaver write the thread's checkpoints there; keep no "
              "memory of your own", check_file),
        Check("other-thread-fresh", "another thread on the same file does not know the name", 2,
              "pass the thread_id you are given in {'configurable': {'thread_id': ...}}; a "
              "thread only sees its own checkpoints", check_other_thread),
        Check("sqlite-saver", "build_agent(db_path) uses a SqliteSaver", 2,
              "compile with checkpointer=SqliteSaver(sqlite3.connect(db_path, "
              "check_same_thread=False)); from_conn_string is a context manager that closes "
              "its connection when the with-block ends", check_saver),
    ),
)
