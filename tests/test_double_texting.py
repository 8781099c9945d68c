"""No double-texting: two messages to one thread at the same moment never run side by side.

Two real `support-agent ask` processes (the CLI's own `main`) send to one thread at once, held
at a file barrier until both are ready, against an OpenAI-compatible server slowed down so each
turn lasts about a second. Under policy "fail" one sender wins and the other is told the thread
is busy; under "wait" the second turn runs after the first. Either way the thread's history stays
one line: every checkpoint's parent is the one before it, none has two children.

The same race runs on SQLite (file locks), PostgreSQL (advisory locks) and with Redis locks,
and in-process on two OS threads for the memory saver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent.errors import ThreadBusy
from agent.service import SupportDesk
from agent.settings import Settings, load_settings
from agent.views import CheckpointInfo, TurnResult

API_KEY = "test-key"
MODEL_LATENCY_SECONDS = 1.0  # each chat completion waits this long: a turn lasts ~1 s
BUSY_WAIT_SECONDS = 30.0
CHILD_TIMEOUT_SECONDS = 90.0
# Two messages with distinct, deterministic one-call replies ("Nice to meet you, Ann! ...").
TEXTS = {"ann": "My name is Ann", "ben": "My name is Ben"}

BACKENDS = [
    pytest.param("sqlite", False, id="sqlite-file-lock"),
    pytest.param("postgres", False, id="postgres-advisory-lock", marks=pytest.mark.postgres),
    pytest.param("sqlite", True, id="sqlite-redis-lock", marks=pytest.mark.redis),
    pytest.param("postgres", True, id="postgres-redis-lock",
                 marks=[pytest.mark.postgres, pytest.mark.redis]),
]

# One sender: imports the whole stack, says it is ready, waits for the barrier file, then runs
# the real CLI (`support-agent ask --json`) in-process so its exit code and stderr are the CLI's.
SENDER_SCRIPT = """
import json, sys, time
from pathlib import Path

import langchain_openai  # noqa: F401 - imported before the barrier, like everything below
import agent.service  # noqa: F401
from agent.cli import main

barrier, ready, report, thread_id, text = sys.argv[1:6]
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(barrier).exists():
    if time.monotonic() > deadline:
        sys.exit("the barrier never opened")
    time.sleep(0.002)
started = time.time()
code = main(["ask", "--user", "alice", "--thread", thread_id, "--json", text])
Path(report).write_text(json.dumps({"started": started, "ended": time.time()}))
sys.exit(code)
"""


@dataclass
class Sent:
    """What one sender process did."""

    name: str
    text: str
    code: int
    stdout: str
    stderr: str
    started: float
    ended: float

    def explain(self) -> str:
        return (f"sender {self.name} exited {self.code}\n--- stdout\n{self.stdout}\n"
                f"--- stderr\n{self.stderr}")


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    """The OpenAI-compatible test server; the tests slow it down once the thread exists."""
    with OpenAICompatibleServer(api_key=API_KEY) as running:
        yield running


def settings_values(saver: str, use_redis: bool, policy: str, server: OpenAICompatibleServer,
                    request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The settings both the test and its child processes use."""
    values: dict[str, Any] = {
        "saver": saver,
        "model": f"openai:{MODEL_ID}",
        "openai_api_key": API_KEY,
        "openai_base_url": server.base_url,
        "busy_policy": policy,
        "busy_wait_seconds": BUSY_WAIT_SECONDS,
    }
    if saver == "sqlite":
        values["sqlite_path"] = tmp_path / "data" / "support.db"
    elif saver == "postgres":
        values["postgres_url"] = request.getfixturevalue("postgres_url")
    if use_redis:
        values["redis_url"] = request.getfixturevalue("redis_url")
        values["redis_key_prefix"] = request.getfixturevalue("redis_prefix")
    return values


def child_environment(values: dict[str, Any]) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "OPENAI_"))}
    for name, value in values.items():
        variable = name.upper() if name.startswith("openai_") else f"SUPPORT_{name.upper()}"
        env[variable] = str(value)
    env.update(PYTHONIOENCODING="utf-8", NO_COLOR="1")
    return env


def race(tmp_path: Path, env: dict[str, str], thread_id: str) -> dict[str, Sent]:
    """Run one sender process per TEXTS entry on `thread_id`, released at the same instant."""
    script = tmp_path / "send.py"
    script.write_text(SENDER_SCRIPT)
    barrier = tmp_path / "go"
    children: dict[str, subprocess.Popen] = {}
    try:
        for name, text in TEXTS.items():
            children[name] = subprocess.Popen(
                [sys.executable, str(script), str(barrier), str(tmp_path / f"{name}.ready"),
                 str(tmp_path / f"{name}.report"), thread_id, text],
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8")
        # Both must be imported and waiting before either is let go.
        deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
        while not all((tmp_path / f"{name}.ready").exists() for name in TEXTS):
            for name, child in children.items():
                if child.poll() is not None:
                    pytest.fail(f"sender {name} died before the barrier:\n{child.stderr.read()}")
            assert time.monotonic() < deadline, "the senders never got ready"
            time.sleep(0.01)
        barrier.touch()
        outputs = {name: child.communicate(timeout=CHILD_TIMEOUT_SECONDS)
                   for name, child in children.items()}
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=10)
    sent = {}
    for name, (stdout, stderr) in outputs.items():
        report_file = tmp_path / f"{name}.report"
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        sent[name] = Sent(name, TEXTS[name], children[name].returncode, stdout, stderr,
                          report.get("started", 0.0), report.get("ended", 0.0))
    for one in sent.values():
        assert "Traceback" not in one.stderr, one.explain()
    return sent


def assert_single_line(history: list[CheckpointInfo]) -> None:
    """Every checkpoint's parent is the previous one in step order; nothing branches."""
    ordered = sorted(history, key=lambda info: info.step)
    steps = [info.step for info in ordered]
    assert steps == list(range(steps[0], steps[0] + len(steps))), f"steps repeat or skip: {steps}"
    assert ordered[0].parent_id is None
    for parent, child in pairwise(ordered):
        assert child.parent_id == parent.checkpoint_id, f"step {child.step} is not on the line"
    children_per_parent = Counter(info.parent_id for info in history if info.parent_id)
    assert max(children_per_parent.values()) == 1, "a checkpoint has two children"


def customer_texts(desk: SupportDesk, thread_id: str) -> list[str]:
    return [m.text for m in desk.view_thread("alice", thread_id).messages if m.role == "customer"]


def transcript(desk: SupportDesk, thread_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in desk.view_thread("alice", thread_id).messages]


def start_thread(settings: Settings) -> tuple[str, int]:
    """A thread with one finished turn, and how many checkpoints it has."""
    with SupportDesk.open(settings) as desk:
        first = desk.ask("alice", "Hello")
        assert first.status == "active"
        return first.thread_id, len(desk.history("alice", first.thread_id, limit=200))


def sent_messages(server: OpenAICompatibleServer, since: int) -> list[list[str]]:
    """The user-message texts of each chat request the model got after the first `since`."""
    return [[m["content"] for m in body["messages"] if m["role"] == "user"]
            for body in server.chat_requests()[since:]]


# --- across processes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("saver", "use_redis"), BACKENDS)
def test_policy_fail_lets_one_sender_through_and_tells_the_other_it_is_busy(
        saver: str, use_redis: bool, server: OpenAICompatibleServer,
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two processes text one thread at once: one reply, one exit-4 busy error, one-line history."""
    values = settings_values(saver, use_redis, "fail", server, request, tmp_path)
    settings = load_settings(**values)
    thread_id, checkpoints_before = start_thread(settings)
    requests_before = len(server.chat_requests())
    server.slow_down(MODEL_LATENCY_SECONDS)

    sent = race(tmp_path, child_environment(values), thread_id)

    winners = [one for one in sent.values() if one.code == 0]
    losers = [one for one in sent.values() if one.code != 0]
    assert len(winners) == 1 and len(losers) == 1, "\n".join(s.explain() for s in sent.values())
    [winner], [loser] = winners, losers
    assert loser.code == 4, loser.explain()
    assert loser.stdout == ""
    [line] = loser.stderr.strip().splitlines()
    assert line.startswith("error:") and "busy" in line and thread_id in line, line
    result = json.loads(winner.stdout)
    assert result["thread_id"] == thread_id and result["status"] == "active"
    assert winner.name.capitalize() in result["reply"]
    # The busy sender was refused while the winner's turn ran, and never reached the model.
    assert loser.ended < winner.ended
    assert sent_messages(server, requests_before) == [["Hello", winner.text]]

    with SupportDesk.open(settings) as desk:
        history = desk.history("alice", thread_id, limit=200)
        assert_single_line(history)
        assert len(history) > checkpoints_before
        assert customer_texts(desk, thread_id) == ["Hello", winner.text]
        assert transcript(desk, thread_id)[-1] == ("assistant", result["reply"])
        assert desk.view_thread("alice", thread_id).thread.status == "active"
    if use_redis:
        assert_no_lock_keys(request)


@pytest.mark.parametrize(("saver", "use_redis"), BACKENDS)
def test_policy_wait_runs_the_second_sender_after_the_first(
        saver: str, use_redis: bool, server: OpenAICompatibleServer,
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two processes text one thread at once: both answered, one turn after the other."""
    values = settings_values(saver, use_redis, "wait", server, request, tmp_path)
    settings = load_settings(**values)
    thread_id, _ = start_thread(settings)
    requests_before = len(server.chat_requests())
    server.slow_down(MODEL_LATENCY_SECONDS)

    sent = race(tmp_path, child_environment(values), thread_id)

    for one in sent.values():
        assert one.code == 0, one.explain()
    first, second = sorted(sent.values(), key=lambda one: one.ended)
    # They really raced: released together, and the second one waited for the first.
    assert abs(first.started - second.started) < MODEL_LATENCY_SECONDS / 2
    replies = {one.name: json.loads(one.stdout)["reply"] for one in sent.values()}
    for name, reply in replies.items():
        assert name.capitalize() in reply, (name, reply)
    # The second turn started after the first ended: its model call saw the first whole turn.
    assert sent_messages(server, requests_before) == [
        ["Hello", first.text],
        ["Hello", first.text, second.text],
    ]
    second_request = server.chat_requests()[-1]["messages"]
    assert any(m["role"] == "assistant" and m.get("content") == replies[first.name]
               for m in second_request)

    with SupportDesk.open(settings) as desk:
        assert_single_line(desk.history("alice", thread_id, limit=200))
        assert transcript(desk, thread_id)[2:] == [
            ("customer", first.text), ("assistant", replies[first.name]),
            ("customer", second.text), ("assistant", replies[second.name]),
        ]
        assert desk.view_thread("alice", thread_id).thread.status == "active"
    if use_redis:
        assert_no_lock_keys(request)


def assert_no_lock_keys(request: pytest.FixtureRequest) -> None:
    """Both turns are over, so no Redis lock key may be left behind."""
    import redis

    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        prefix = request.getfixturevalue("redis_prefix")
        assert list(client.scan_iter(match=prefix + "*")) == []
    finally:
        client.close()


# --- in one process (memory saver) --------------------------------------------------------------


@pytest.fixture
def memory_desk(server: OpenAICompatibleServer,
                make_settings: Callable[..., Settings]) -> Iterator[Callable[[str], SupportDesk]]:
    """Open a memory-saver desk on the test server with a busy policy; closed afterwards."""
    opened: list[SupportDesk] = []

    def open_desk(policy: str) -> SupportDesk:
        desk = SupportDesk.open(make_settings(
            "memory", model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
            openai_base_url=server.base_url, busy_policy=policy,
            busy_wait_seconds=BUSY_WAIT_SECONDS))
        opened.append(desk)
        return desk

    yield open_desk
    for desk in opened:
        desk.close()


def send_together(desk: SupportDesk, targets: dict[str, str]) -> dict[str, TurnResult | Exception]:
    """Send TEXTS[name] to targets[name] from one OS thread each, released by one barrier."""
    barrier = threading.Barrier(len(targets))
    outcomes: dict[str, TurnResult | Exception] = {}

    def send(name: str, thread_id: str) -> None:
        barrier.wait(timeout=10)
        try:
            outcomes[name] = desk.ask("alice", TEXTS[name], thread_id=thread_id)
        except Exception as exc:
            outcomes[name] = exc

    workers = [threading.Thread(target=send, args=item) for item in targets.items()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=CHILD_TIMEOUT_SECONDS)
    assert set(outcomes) == set(targets), "a sender never finished"
    return outcomes


@pytest.mark.parametrize("policy", ["fail", "wait"])
def test_memory_saver_threads_never_interleave_on_one_thread(
        policy: str, memory_desk: Callable[[str], SupportDesk],
        server: OpenAICompatibleServer) -> None:
    """Two OS threads send to one thread at once: never two turns at a time, history one line."""
    desk = memory_desk(policy)
    thread_id = desk.ask("alice", "Hello").thread_id
    requests_before = len(server.chat_requests())
    server.slow_down(MODEL_LATENCY_SECONDS)

    outcomes = send_together(desk, dict.fromkeys(TEXTS, thread_id))

    done = {name: o for name, o in outcomes.items() if isinstance(o, TurnResult)}
    failed = {name: o for name, o in outcomes.items() if not isinstance(o, TurnResult)}
    calls = sent_messages(server, requests_before)
    if policy == "fail":
        assert len(done) == 1 and len(failed) == 1, outcomes
        [error] = failed.values()
        assert isinstance(error, ThreadBusy) and thread_id in str(error), error
        answered = list(done)
        assert calls == [["Hello", TEXTS[answered[0]]]]
    else:
        assert not failed, failed
        # The model calls show the order; the second one saw the first one's whole turn.
        answered = [next(name for name in TEXTS if TEXTS[name] == call[-1]) for call in calls]
        assert calls == [["Hello", TEXTS[answered[0]]],
                         ["Hello", TEXTS[answered[0]], TEXTS[answered[1]]]]
    assert_single_line(desk.history("alice", thread_id, limit=200))
    expected: list[tuple[str, str]] = []
    for name in answered:
        result = done[name]
        assert isinstance(result, TurnResult)
        expected += [("customer", TEXTS[name]), ("assistant", result.reply)]
    assert transcript(desk, thread_id)[2:] == expected


def test_memory_saver_lock_is_per_thread(memory_desk: Callable[[str], SupportDesk],
                                         server: OpenAICompatibleServer) -> None:
    """Under policy "fail", simultaneous messages to two different threads both go through."""
    desk = memory_desk("fail")
    threads = {name: desk.create_thread("alice").thread_id for name in TEXTS}
    server.slow_down(MODEL_LATENCY_SECONDS)

    outcomes = send_together(desk, threads)

    for name, outcome in outcomes.items():
        assert isinstance(outcome, TurnResult), outcome
        assert outcome.thread_id == threads[name]
        assert customer_texts(desk, threads[name]) == [TEXTS[name]]
        assert_single_line(desk.history("alice", threads[name], limit=200))


@pytest.mark.postgres
def test_concurrent_turns_on_many_threads_do_not_starve_a_small_pool(
        make_settings: Callable[..., Settings], server: OpenAICompatibleServer) -> None:
    """Lock connections come from their own pool: busy threads never starve checkpoint writes."""
    settings = make_settings("postgres", model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
                             openai_base_url=server.base_url, postgres_pool_size=2)
    with SupportDesk.open(settings) as desk:
        # As many turns at once as the pool has connections: before lock connections had a
        # pool of their own, these two held both and the checkpoint writes timed out.
        threads = {name: desk.create_thread("alice").thread_id for name in TEXTS}
        server.slow_down(MODEL_LATENCY_SECONDS)
        results = send_together(desk, threads)
    failures = {name: r for name, r in results.items() if isinstance(r, Exception)}
    assert failures == {}, failures
