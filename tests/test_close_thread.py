"""Closing a thread takes the thread's lock, so it never races a turn on that thread.

A close during a running turn waits for it (busy policy "wait") or is told the thread is busy
("fail"); it never leaves a thread `closed` while a turn runs, and never overwrites the status
a turn records. Turns call the slow OpenAI-compatible test server, so a test can act while a
turn waits for the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent.errors import ThreadBusy
from agent.service import SupportDesk
from agent.settings import Settings
from agent.views import TurnResult

API_KEY = "test-key"
MODEL_LATENCY_SECONDS = 1.0
WAIT_SECONDS = 30.0

SAVERS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    """The OpenAI-compatible test server."""
    with OpenAICompatibleServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def open_desk(make_settings: Callable[..., Settings],
              server: OpenAICompatibleServer) -> Iterator[Callable[..., SupportDesk]]:
    """Open a desk on the test model with a busy policy; closed afterwards."""
    opened: list[SupportDesk] = []

    def build(saver: str, policy: str) -> SupportDesk:
        desk = SupportDesk.open(make_settings(
            saver, model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
            openai_base_url=server.base_url, busy_policy=policy,
            busy_wait_seconds=WAIT_SECONDS))
        opened.append(desk)
        return desk

    yield build
    for desk in opened:
        desk.close()


class Background:
    """Runs a desk call on another OS thread; `result()` returns or raises what it did."""

    def __init__(self, call: Callable[[], TurnResult]):
        self._call = call
        self._outcome: TurnResult | BaseException | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = self._call()
        except BaseException as exc:  # handed to the test by result()
            self._outcome = exc
        finally:
            self.ended.set()

    def result(self) -> TurnResult:
        self._thread.join(timeout=WAIT_SECONDS * 2)
        assert not self._thread.is_alive(), "the background turn never ended"
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert isinstance(self._outcome, TurnResult)
        return self._outcome


def start_slow_turn(desk: SupportDesk, server: OpenAICompatibleServer) -> tuple[str, Background]:
    """A thread with one finished turn, and a second turn now waiting for the slow model."""
    thread_id = desk.ask("alice", "Hello").thread_id
    server.slow_down(MODEL_LATENCY_SECONDS)
    calls = len(server.chat_requests())
    turn = Background(lambda: desk.ask("alice", "My name is Ann", thread_id=thread_id))
    deadline = time.monotonic() + WAIT_SECONDS
    while len(server.chat_requests()) <= calls:
        assert time.monotonic() < deadline, "the turn never called the model"
        time.sleep(0.01)
    return thread_id, turn


@pytest.mark.parametrize("saver", SAVERS)
def test_close_during_a_turn_waits_for_it_then_closes(
        saver: str, open_desk: Callable[..., SupportDesk],
        server: OpenAICompatibleServer) -> None:
    """Policy "wait": close returns only after the turn ended; the thread ends up closed."""
    desk = open_desk(saver, "wait")
    thread_id, turn = start_slow_turn(desk, server)

    closed = desk.close_thread("alice", thread_id)

    assert turn.ended.is_set(), "close returned while the turn was still running"
    result = turn.result()
    assert result.status == "active" and "Ann" in result.reply
    assert closed.status == "closed"
    view = desk.view_thread("alice", thread_id)
    assert view.thread.status == "closed"
    assert [m.text for m in view.messages if m.role == "customer"] == ["Hello", "My name is Ann"]
    assert view.messages[-1].text == result.reply


@pytest.mark.parametrize("saver", SAVERS)
def test_close_during_a_turn_reports_busy_and_leaves_the_turns_status(
        saver: str, open_desk: Callable[..., SupportDesk],
        server: OpenAICompatibleServer) -> None:
    """Policy "fail": close is told the thread is busy; the turn records its own status."""
    desk = open_desk(saver, "fail")
    thread_id, turn = start_slow_turn(desk, server)

    with pytest.raises(ThreadBusy) as busy:
        desk.close_thread("alice", thread_id)

    assert thread_id in str(busy.value) and "busy" in str(busy.value)
    assert desk.threads.get(thread_id).status == "running"
    assert turn.result().status == "active"
    assert desk.view_thread("alice", thread_id).thread.status == "active"
    assert desk.close_thread("alice", thread_id).status == "closed"


@pytest.mark.parametrize("saver", SAVERS)
def test_close_never_writes_while_a_turn_holds_the_thread(
        saver: str, open_desk: Callable[..., SupportDesk]) -> None:
    """A turn that has just taken the lock (not yet marked running) keeps the thread: a close
    at that moment is refused instead of writing `closed` under the starting turn."""
    desk = open_desk(saver, "fail")
    thread_id = desk.create_thread("alice").thread_id
    with desk.persistence.locks.hold(thread_id, 0):
        with pytest.raises(ThreadBusy):
            desk.close_thread("alice", thread_id)
        assert desk.threads.get(thread_id).status == "active"
    assert desk.close_thread("alice", thread_id).status == "closed"
