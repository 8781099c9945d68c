"""Several app instances on one PostgreSQL database, and PostgreSQL restarts under a live app.

Each `SupportDesk.open` is one app instance (its own connection pool); the "processes" variant
runs each instance in its own OS process, talking JSON lines over a pipe. Nothing is sticky:
whichever instance gets a request serves it from the shared database.

The restart tests stop and start the real local cluster with pg_ctlcluster (root only); they
skip when that is impossible and always leave the server running for the rest of the suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent import errors
from agent.errors import SupportError, ThreadBusy, Unavailable
from agent.service import SupportDesk, collect
from agent.settings import Settings

pytestmark = pytest.mark.postgres

TRACKING = "1Z999AA10123456791"  # in the reply to "Where is ORD-1002?"
REFUND = "Please refund ORD-1001, the boots leak"
READY_SECONDS = 60.0  # how long a (re)started server may take to accept connections
WORKER_SECONDS = 90.0  # per request to a worker process (a turn is well under a second)
# A turn started while the server is down must fail, not hang. The pool waits 30 s (its
# default timeout) for a connection before giving up; this leaves margin on a busy machine.
DOWN_FAIL_SECONDS = 40.0
# After an outage the pool reconnects with exponential backoff, so its next attempt can come
# up to about as long after the server is back as the outage lasted (see the report in
# test_turns_fail_fast_while_the_server_is_down_and_work_again_after).
RECOVERY_SECONDS = 90.0
LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "::1")


# --- the PostgreSQL server under test ---------------------------------------------------------


class PostgresCluster:
    """Stops, starts and restarts the local cluster that serves the test database."""

    def __init__(self, version: str, name: str, host: str, port: int):
        self.version, self.name, self.host, self.port = version, name, host, port

    def _ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version,
                               self.name, action], capture_output=True, text=True, timeout=120)

    def is_ready(self) -> bool:
        """True when the server accepts connections."""
        done = subprocess.run(["pg_isready", "-h", self.host or "127.0.0.1", "-p",
                               str(self.port), "-t", "2"], capture_output=True, timeout=30)
        return done.returncode == 0

    def wait_ready(self) -> None:
        """Wait until the server accepts connections (pg_ctl's own wait is not enough)."""
        deadline = time.monotonic() + READY_SECONDS
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not come back within {READY_SECONDS}s")
            time.sleep(0.2)

    def restart(self) -> float:
        """Restart (fast shutdown: every session is cut) and wait; return the seconds taken."""
        started = time.monotonic()
        done = self._ctl("restart")
        assert done.returncode == 0, done.stderr
        self.wait_ready()
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        done = self._ctl("stop")
        assert done.returncode == 0, done.stderr
        assert not self.is_ready()

    def start(self) -> None:
        """Start the server if it is down, and wait until it accepts connections."""
        if not self.is_ready():
            self._ctl("start")  # "already running" (exit 2) is fine: it is up either way
        self.wait_ready()


@pytest.fixture
def cluster(postgres_url: str) -> Iterator[PostgresCluster]:
    """The local cluster serving the test database; skips if this process cannot restart it.

    Depends on `postgres_url`, so it is torn down first: the server is running again before
    that fixture drops the test database.
    """
    params = psycopg.conninfo.conninfo_to_dict(postgres_url)
    host, port = str(params.get("host", "")), int(params.get("port") or 5432)
    if host not in LOCAL_HOSTS and not host.startswith("/"):
        pytest.skip(f"restart tests need a local PostgreSQL server, not {host}")
    if os.geteuid() != 0:
        pytest.skip("restart tests need root (pg_ctlcluster stops and starts the server)")
    if not all(shutil.which(tool) for tool in ("pg_ctlcluster", "pg_lsclusters", "pg_isready")):
        pytest.skip("restart tests need pg_ctlcluster, pg_lsclusters and pg_isready "
                    "(Debian/Ubuntu postgresql-common)")
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True,
                             timeout=30).stdout
    found = [line.split()[:2] for line in listing.splitlines()
             if len(line.split()) >= 4 and line.split()[2] == str(port)]
    if len(found) != 1:
        pytest.skip(f"no single local cluster on port {port} to restart (pg_lsclusters)")
    server = PostgresCluster(found[0][0], found[0][1], host, port)
    try:
        yield server
    finally:
        # Whatever happened, the rest of the suite needs the server.
        server.start()


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


# --- helpers ----------------------------------------------------------------------------------


def assert_single_line(history: list[Any]) -> None:
    """Newest first: each checkpoint's parent is the one before it, back to the first."""
    history = [h if isinstance(h, dict) else dataclasses.asdict(h) for h in history]
    assert history, "no checkpoints"
    for newer, older in itertools.pairwise(history):
        assert newer["parent_id"] == older["checkpoint_id"], "the history branches"
    assert history[-1]["parent_id"] is None
    steps = [h["step"] for h in history]
    assert steps == list(range(steps[0], steps[0] - len(steps), -1)), steps


def customer_texts(view: Any) -> list[str]:
    messages = view["messages"] if isinstance(view, dict) else [
        dataclasses.asdict(m) for m in view.messages]
    return [m["text"] for m in messages if m["role"] == "customer"]


def in_background(work: Callable[[], Any]) -> Callable[[float], Any]:
    """Run `work` in a thread; the returned function waits for its result or exception."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work)
    pool.shutdown(wait=False)

    def outcome(timeout: float) -> Any:
        try:
            return future.result(timeout=timeout)
        except SupportError as exc:
            return exc

    return outcome


def wait_for_model_call(server: OpenAICompatibleServer, seen: int) -> None:
    """Return once the model server has received more than `seen` chat requests."""
    deadline = time.monotonic() + 30
    while len(server.chat_requests()) <= seen:
        assert time.monotonic() < deadline, "the turn never called the model"
        time.sleep(0.01)


def until_available(action: Callable[[], Any], within: float) -> tuple[Any, int]:
    """Repeat `action` while it raises Unavailable; return its result and the failures seen."""
    deadline = time.monotonic() + within
    failures = 0
    while True:
        try:
            return action(), failures
        except Unavailable as exc:
            assert "try again" in str(exc)
            failures += 1
            assert time.monotonic() < deadline, f"still unavailable after {within}s: {exc}"


def server_started_at(desk: SupportDesk) -> Any:
    """When the PostgreSQL server behind the desk's pool started (changes on a restart)."""
    return desk.persistence.db.fetch_one("SELECT pg_postmaster_start_time() AS t")["t"]


@pytest.fixture
def model_server() -> Iterator[OpenAICompatibleServer]:
    """An OpenAI-compatible test server, so a model call can be made slow."""
    with OpenAICompatibleServer() as running:
        yield running


@pytest.fixture
def openai_settings(make_settings: Callable[..., Settings],
                    model_server: OpenAICompatibleServer) -> Callable[..., Settings]:
    """PostgreSQL settings whose model is the test server."""

    def build(**overrides: Any) -> Settings:
        return make_settings("postgres", model=f"openai:{MODEL_ID}", openai_api_key="test-key",
                             openai_base_url=model_server.base_url, **overrides)

    return build


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


# --- PostgreSQL restarts ----------------------------------------------------------------------


def test_restart_between_turns_needs_no_reopen(make_settings, cluster):
    """After a restart the same desk carries on: acknowledged turns and the approval survive."""
    with SupportDesk.open(make_settings("postgres")) as desk:
        thread = desk.ask("alice", "My name is Alice").thread_id
        assert desk.ask("alice", REFUND, thread_id=thread).status == "awaiting_approval"
        before = desk.view_thread("alice", thread)
        first_start = server_started_at(desk)

        took = cluster.restart()

        # Every pooled connection is dead now; the pool's check on borrow replaces them.
        started = time.monotonic()
        [pending] = desk.pending_approvals("sam")
        assert time.monotonic() - started < 10, "the first request after a restart was slow"
        assert server_started_at(desk) > first_start, f"no restart happened ({took:.1f}s)"
        after = desk.view_thread("alice", thread)
        assert after.thread.status == "awaiting_approval"
        assert after.messages == before.messages and after.checkpoint_id == before.checkpoint_id
        assert pending.thread_id == thread

        decided = collect(desk.decide_approval("sam", thread, {"action": "approve"}))
        assert decided.status == "active" and "Refunded $129.00" in decided.reply
        assert "Alice" in desk.ask("alice", "What's my name?", thread_id=thread).reply
        assert len(desk.ledger("sam")) == 1
        final = desk.view_thread("alice", thread)
        assert final.thread.status == "active"
        assert final.messages[:len(before.messages)] == before.messages
        assert_single_line(desk.history("alice", thread, limit=200))


def test_turn_in_flight_during_a_restart_completes_or_fails_retryably(
        openai_settings, model_server, cluster):
    """A restart during a slow model call: the turn completes or says to try again; no loss."""
    with SupportDesk.open(openai_settings()) as desk:
        thread = desk.ask("alice", "My name is Alice").thread_id
        acknowledged = desk.view_thread("alice", thread).messages
        model_server.slow_down(2.0)
        seen = len(model_server.chat_requests())
        outcome = in_background(
            lambda: desk.ask("alice", "Where is ORD-1002?", thread_id=thread))
        wait_for_model_call(model_server, seen)
        cluster.restart()  # while the model is still answering
        result = outcome(120)
        model_server.slow_down(0)

        if isinstance(result, SupportError):
            # The turn could not write its step: a clear, retryable error, nothing else.
            assert isinstance(result, Unavailable), result
            assert "try again" in str(result)
        else:
            assert result.status == "active" and TRACKING in result.reply
        view = desk.view_thread("alice", thread)
        assert view.thread.status in ("active", "interrupted")
        assert view.messages[:len(acknowledged)] == acknowledged
        if not isinstance(result, SupportError):
            assert view.thread.status == "active"

        # The next message finishes any pending work first, then answers.
        after = desk.ask("alice", "What's my name?", thread_id=thread)
        assert after.status == "active" and "Alice" in after.reply
        final = desk.view_thread("alice", thread)
        assert final.thread.status == "active"
        assert customer_texts(final) == ["My name is Alice", "Where is ORD-1002?",
                                         "What's my name?"]
        assert any(TRACKING in m.text for m in final.messages if m.role == "assistant"), [
            (m.role, m.text[:60], m.tool_calls) for m in final.messages]
        assert_single_line(desk.history("alice", thread, limit=200))


def test_turns_fail_fast_while_the_server_is_down_and_work_again_after(make_settings, cluster):
    """With the server down a turn raises Unavailable in bounded time and writes nothing."""
    with SupportDesk.open(make_settings("postgres")) as desk:
        thread = desk.ask("alice", "My name is Alice").thread_id
        before = desk.view_thread("alice", thread)
        history = desk.history("alice", thread, limit=200)

        def attempt(thread_id: str | None) -> tuple[float, BaseException | None]:
            started = time.monotonic()
            try:
                desk.ask("alice", "Where is ORD-1002?", thread_id=thread_id)
            except Exception as exc:
                return time.monotonic() - started, exc
            return time.monotonic() - started, None

        cluster.stop()
        try:
            # A message to the existing thread and one starting a new thread, at once (each
            # waits out the pool's timeout; together they cost one wait).
            with ThreadPoolExecutor(max_workers=2) as workers:
                outcomes = list(workers.map(attempt, [thread, None]))
        finally:
            cluster.start()

        for took, error in outcomes:
            assert isinstance(error, Unavailable), error
            assert "try again" in str(error)
            assert took < DOWN_FAIL_SECONDS, f"took {took:.1f}s to report the outage"

        # The pool may still be backing off from the reconnects it tried during the outage.
        view, _ = until_available(lambda: desk.view_thread("alice", thread), RECOVERY_SECONDS)
        assert view.thread.status == "active"
        assert view.messages == before.messages and view.checkpoint_id == before.checkpoint_id
        assert desk.history("alice", thread, limit=200) == history
        assert desk.list_threads("alice").total == 1, "the failed new thread was left behind"

        result, _ = until_available(
            lambda: desk.ask("alice", "Where is ORD-1002?", thread_id=thread), RECOVERY_SECONDS)
        assert result.status == "active" and TRACKING in result.reply
        assert_single_line(desk.history("alice", thread, limit=200))


def test_a_restart_does_not_let_a_second_instance_into_a_running_turn(
        openai_settings, model_server, cluster):
    """Two turns never run one thread at once, even when a restart cuts the lock's session."""
    settings = openai_settings(busy_policy="fail")
    with SupportDesk.open(settings) as a, SupportDesk.open(settings) as b:
        thread = a.ask("alice", "My name is Alice").thread_id
        # Slow enough that A is still waiting for the model after the restart (about 3 s).
        model_server.slow_down(6.0)
        seen = len(model_server.chat_requests())
        outcome = in_background(lambda: a.ask("alice", "Where is ORD-1002?", thread_id=thread))
        wait_for_model_call(model_server, seen)
        with pytest.raises(ThreadBusy):  # the lock works before the restart
            b.ask("alice", "What's my name?", thread_id=thread)

        cluster.restart()
        # Busy is the right answer while A runs; a fix may instead stop A and let B resume it.
        with contextlib.suppress(ThreadBusy):
            b.ask("alice", "What's my name?", thread_id=thread)
        first = outcome(120)
        model_server.slow_down(0)

        if isinstance(first, SupportError) and not isinstance(first, Unavailable):
            pytest.fail(f"the first turn failed unexpectedly: {first!r}")
        view = a.view_thread("alice", thread)
        assert customer_texts(view).count("Where is ORD-1002?") == 1
        # Two runners on one thread both write a child of the same checkpoint.
        assert_single_line(a.history("alice", thread, limit=200))
