"""Several app instances on one PostgreSQL database.

Each `SupportDesk.open` is one app instance (its own connection pool); the "processes" variant
runs each instance in its own OS process, talking JSON lines over a pipe. Nothing is sticky:
whichever instance gets a request serves it from the shared database. (PostgreSQL restarts under
a live app are in test_postgres_restarts.py, on a throwaway cluster.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.histories import REFUND, TRACKING, assert_single_line, customer_texts

from agent import errors
from agent.errors import SupportError
from agent.service import SupportDesk, collect
from agent.settings import Settings

pytestmark = pytest.mark.postgres

WORKER_SECONDS = 90.0  # per request to a worker process (a turn is well under a second)


# --- app instances ----------------------------------------------------------------------------

# What an instance can be asked to do; every answer is plain JSON data, wherever it ran.
OPERATIONS = ("ask", "decide_approval", "pending_approvals", "view_thread", "history", "ledger",
              "list_threads")
REPLY_MARK = "@@reply "  # marks protocol lines, should anything else reach the worker's stdout


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def perform(desk: SupportDesk, op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run one operation on a desk and return its result as plain JSON data."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op}")
    result = getattr(desk, op)(*args, **kwargs)
    if op == "decide_approval":
        result = collect(result)
    return json.loads(json.dumps(result, default=_encode))


def serve(overrides_json: str) -> None:
    """A worker process: one SupportDesk answering JSON-line requests from stdin."""
    with SupportDesk.open(**json.loads(overrides_json)) as desk:
        print(REPLY_MARK + json.dumps({"pid": os.getpid()}), flush=True)
        for line in sys.stdin:
            op, args, kwargs = json.loads(line)
            try:
                reply = {"ok": perform(desk, op, args, kwargs)}
            except SupportError as exc:
                reply = {"error": type(exc).__name__, "message": str(exc)}
            print(REPLY_MARK + json.dumps(reply), flush=True)


class DeskInstance:
    """An app instance in this process."""

    def __init__(self, desk: SupportDesk):
        self.desk = desk
        self.pid = os.getpid()

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        return perform(self.desk, op, list(args), kwargs)


class ProcessInstance:
    """An app instance in its own OS process (this module's `serve`)."""

    BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import test_instances; "
            "test_instances.serve(sys.argv[2])")

    def __init__(self, overrides: dict[str, Any], log: Path):
        self._log = log
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", self.BOOT, str(Path(__file__).parent),
                 json.dumps(overrides)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
        # A reader thread, so a worker that hangs fails the test instead of blocking it.
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.pid = self._reply()["pid"]

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(REPLY_MARK):
                self._lines.put(line[len(REPLY_MARK):])
        self._lines.put("")  # the worker exited

    def _reply(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=WORKER_SECONDS)
        except queue.Empty:
            line = ""
        if not line:
            raise AssertionError(f"worker {self.process.pid} gave no answer; its stderr:\n"
                                 + self._log.read_text()[-3000:])
        return json.loads(line)

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        self.process.stdin.write(json.dumps([op, args, kwargs]) + "\n")
        self.process.stdin.flush()
        reply = self._reply()
        if "error" in reply:  # the same exception type as in-process, for pytest.raises
            raise getattr(errors, reply["error"], SupportError)(reply["message"])
        return reply["ok"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # end of input: the worker closes its desk and exits
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(params=["desks", "processes"])
def instances(request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
              postgres_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Two app instances on one database: two desks here, or two worker processes."""
    if request.param == "desks":
        settings = make_settings("postgres")
        with SupportDesk.open(settings) as a, SupportDesk.open(settings) as b:
            yield DeskInstance(a), DeskInstance(b)
        return
    overrides = {"saver": "postgres", "postgres_url": postgres_url}
    started: list[ProcessInstance] = []
    try:
        for name in ("a", "b"):
            started.append(ProcessInstance(overrides, tmp_path / f"worker-{name}.log"))
        yield started[0], started[1]
    finally:
        for worker in started:
            worker.close()


# --- several instances ------------------------------------------------------------------------


def test_two_instances_share_one_thread_without_sticky_sessions(instances):
    """Turns alternate between two instances; a refund asked on one is approved on the other."""
    a, b = instances
    if isinstance(a, ProcessInstance):
        assert len({a.pid, b.pid, os.getpid()}) == 3, "the instances share a process"
    thread = a.call("ask", "alice", "My name is Alice")["thread_id"]
    # B never saw this thread: what it knows comes from the shared database alone.
    assert "Alice" in b.call("ask", "alice", "What's my name?", thread_id=thread)["reply"]
    requested = a.call("ask", "alice", REFUND, thread_id=thread)
    assert requested["status"] == "awaiting_approval"

    [pending] = b.call("pending_approvals", "sam")
    assert pending["thread_id"] == thread and pending["arguments"]["order_id"] == "ORD-1001"
    assert a.call("pending_approvals", "sam") == [pending]
    decided = b.call("decide_approval", "sam", thread, {"action": "approve"})
    assert decided["status"] == "active" and "Refunded $129.00" in decided["reply"]

    # A sees B's decision at once: no cache of its own stands in the way.
    view = a.call("view_thread", "alice", thread)
    assert view["thread"]["status"] == "active" and view["pending_approvals"] == []
    assert "Refunded $129.00" in view["messages"][-1]["text"]
    assert a.call("pending_approvals", "sam") == []
    assert TRACKING in a.call("ask", "alice", "Where is ORD-1002?", thread_id=thread)["reply"]
    assert "Alice" in b.call("ask", "alice", "What's my name?", thread_id=thread)["reply"]

    ledger = a.call("ledger", "sam")
    assert b.call("ledger", "sam") == ledger
    assert [(e["kind"], e["order_id"], e["amount_cents"], e["thread_id"]) for e in ledger] == \
        [("refund", "ORD-1001", 12900, thread)]
    final = b.call("view_thread", "alice", thread)
    assert customer_texts(final) == ["My name is Alice", "What's my name?", REFUND,
                                     "Where is ORD-1002?", "What's my name?"]
    history = a.call("history", "alice", thread, limit=200)
    assert b.call("history", "sam", thread, limit=200) == history
    assert_single_line(history)
    assert history[0]["checkpoint_id"] == final["checkpoint_id"]
    [listed] = b.call("list_threads", "alice")["threads"]
    assert listed["thread_id"] == thread and listed["status"] == "active"
