"""Losing a thread's lock mid-turn: the thread never branches, and the error tells the truth.

Two desks stand for two app instances sharing one database and one Redis. Turns call a real
`ChatOpenAI` against the slow OpenAI-compatible test server, so a test can act while a turn
waits for the model: it deletes the thread's Redis lock key (what an expired key or an emptied
Redis looks like to the holder) and lets the other instance take the thread. The oracles are
the thread's history (one line, every customer message exactly once), the registry's status,
and what the first sender is told.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise

import pytest
import redis
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent.errors import SupportError, ThreadBusy, Unavailable
from agent.persistence.locks import RedisThreadLocks
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.views import TurnResult

API_KEY = "test-key"
MODEL_LATENCY_SECONDS = 1.0
WAIT_SECONDS = 30.0
ANN = "My name is Ann"
BEN = "My name is Ben"

SAVERS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
pytestmark = pytest.mark.redis


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    """The OpenAI-compatible test server; slowed down once each thread has its first turn."""
    with OpenAICompatibleServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def instances(make_settings: Callable[..., Settings], server: OpenAICompatibleServer,
              redis_url: str, redis_prefix: str) -> Iterator[Callable[[str], SupportDesk]]:
    """Open desks on one saver and one Redis (each is one app instance); closed afterwards."""
    opened: list[SupportDesk] = []

    def open_desk(saver: str) -> SupportDesk:
        desk = SupportDesk.open(make_settings(
            saver, model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
            openai_base_url=server.base_url, redis_url=redis_url, redis_key_prefix=redis_prefix,
            busy_policy="fail"))
        opened.append(desk)
        return desk

    yield open_desk
    for desk in opened:
        desk.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client to tamper with lock keys from outside the locks."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def assert_single_line(desk: SupportDesk, thread_id: str) -> None:
    """Every checkpoint's parent is the one a step before it: nothing branches, nothing orphaned."""
    history = sorted(desk.history("alice", thread_id, limit=200), key=lambda info: info.step)
    assert history[0].parent_id is None
    for parent, child in pairwise(history):
        assert child.parent_id == parent.checkpoint_id, f"step {child.step} is off the line"
    children = Counter(info.parent_id for info in history if info.parent_id)
    assert max(children.values()) == 1, "a checkpoint has two children: the thread branched"


def transcript(desk: SupportDesk, thread_id: str) -> list[tuple[str, str]]:
    """(role, text) of every message on the thread's head."""
    return [(m.role, m.text) for m in desk.view_thread("alice", thread_id).messages]


def customer_texts(desk: SupportDesk, thread_id: str) -> list[str]:
    """What the customer said, in order."""
    return [text for role, text in transcript(desk, thread_id) if role == "customer"]


def lose_lock(desk: SupportDesk, client: redis.Redis, thread_id: str) -> None:
    """Delete the thread's lock key: to its holder, the lock expired or Redis was emptied."""
    locks = desk.persistence.locks
    assert isinstance(locks, RedisThreadLocks)
    assert client.delete(locks.key(thread_id)) == 1, "the thread was not locked"


def wait_for_model_calls(server: OpenAICompatibleServer, count: int) -> None:
    """Return once the model has received `count` chat requests (a turn is in its model call)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while len(server.chat_requests()) < count:
        assert time.monotonic() < deadline, "the turn never called the model"
        time.sleep(0.01)


class Background:
    """Runs a desk call on another OS thread; `result()` returns or raises what it did."""

    def __init__(self, call: Callable[[], TurnResult]):
        self._call = call
        self._outcome: TurnResult | BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = self._call()
        except BaseException as exc:  # handed to the test by result()
            self._outcome = exc

    def result(self) -> TurnResult:
        self._thread.join(timeout=WAIT_SECONDS * 2)
        assert not self._thread.is_alive(), "the background turn never ended"
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert isinstance(self._outcome, TurnResult)
        return self._outcome


def first_turn(desk: SupportDesk, server: OpenAICompatibleServer) -> str:
    """A thread with one finished turn; the model is slow from now on."""
    thread_id = desk.ask("alice", "Hello").thread_id
    server.slow_down(MODEL_LATENCY_SECONDS)
    return thread_id


@pytest.mark.parametrize("saver", SAVERS)
def test_lock_lost_mid_turn_to_another_sender_saves_the_message_and_says_so(
        saver: str, instances: Callable[[str], SupportDesk], server: OpenAICompatibleServer,
        redis_client: redis.Redis) -> None:
    """A's lock vanishes during its model call and B takes the thread: A is told its message
    was saved (not to send it again), leaves B's `running` alone, and B answers both."""
    desk_a, desk_b = instances(saver), instances(saver)
    thread_id = first_turn(desk_a, server)
    calls = len(server.chat_requests())
    sending = Background(lambda: desk_a.ask("alice", ANN, thread_id=thread_id))
    wait_for_model_calls(server, calls + 1)  # A's message is stored; A waits for the model
    lose_lock(desk_a, redis_client, thread_id)
    stream_b = desk_b.send_message("alice", BEN, thread_id=thread_id)  # B holds the thread

    with pytest.raises(SupportError) as lost:
        sending.result()

    told = str(lost.value)
    assert isinstance(lost.value, ThreadBusy), told
    assert thread_id in told and "taken over" in told
    assert "saved" in told and "do not send it again" in told
    assert "try again" not in told and "send it again in" not in told
    # A stopped without touching the registry: B's turn is the one running.
    assert desk_b.threads.get(thread_id).status == "running"

    answered = collect(stream_b)
    assert answered.status == "active" and "Ben" in answered.reply
    assert customer_texts(desk_b, thread_id) == ["Hello", ANN, BEN]
    lines = transcript(desk_b, thread_id)
    assert lines[2][0] == "customer" and lines[3][0] == "assistant" and "Ann" in lines[3][1]
    assert lines[-1] == ("assistant", answered.reply)
    assert_single_line(desk_b, thread_id)
    assert desk_a.view_thread("alice", thread_id).thread.status == "active"


def test_lock_lost_before_anything_was_saved_never_branches_the_thread(
        instances: Callable[[str], SupportDesk], server: OpenAICompatibleServer,
        redis_client: redis.Redis) -> None:
    """A holds the thread but has written nothing when its lock vanishes and B runs a turn:
    A writes nothing (no second line of history from B's head) and is told to send again."""
    desk_a, desk_b = instances("sqlite"), instances("sqlite")
    thread_id = first_turn(desk_a, server)
    calls = len(server.chat_requests())
    stream_a = desk_a.send_message("alice", ANN, thread_id=thread_id)  # locked, nothing written
    lose_lock(desk_a, redis_client, thread_id)
    sending = Background(lambda: desk_b.ask("alice", BEN, thread_id=thread_id))
    wait_for_model_calls(server, calls + 1)  # B wrote its message and waits for the model

    with pytest.raises(SupportError) as lost:
        collect(stream_a)
    answered = sending.result()

    told = str(lost.value)
    assert isinstance(lost.value, ThreadBusy), told
    assert thread_id in told and "was not saved" in told and "try again" in told
    assert "Ben" in answered.reply
    assert_single_line(desk_b, thread_id)
    assert customer_texts(desk_b, thread_id) == ["Hello", BEN]
    assert desk_b.view_thread("alice", thread_id).thread.status == "active"


def test_lock_lost_with_nobody_taking_over_leaves_the_message_for_the_next_turn(
        instances: Callable[[str], SupportDesk], server: OpenAICompatibleServer,
        redis_client: redis.Redis) -> None:
    """A's lock vanishes during its model call and nobody takes the thread: A stops before its
    next write, says the message was saved and what finishes it; the next message does."""
    desk_a, desk_b = instances("sqlite"), instances("sqlite")
    thread_id = first_turn(desk_a, server)
    calls = len(server.chat_requests())
    sending = Background(lambda: desk_a.ask("alice", ANN, thread_id=thread_id))
    wait_for_model_calls(server, calls + 1)
    lose_lock(desk_a, redis_client, thread_id)

    with pytest.raises(SupportError) as lost:
        sending.result()

    told = str(lost.value)
    assert isinstance(lost.value, Unavailable), told
    assert thread_id in told and "saved" in told and "do not send it again" in told
    assert "your next message" in told and "support-agent resume" in told
    assert desk_b.view_thread("alice", thread_id).thread.status == "interrupted"
    assert customer_texts(desk_b, thread_id) == ["Hello", ANN]

    server.slow_down(0)
    answered = desk_b.ask("alice", BEN, thread_id=thread_id)
    assert "Ben" in answered.reply
    lines = transcript(desk_b, thread_id)
    assert [text for role, text in lines if role == "customer"] == ["Hello", ANN, BEN]
    assert lines[3][0] == "assistant" and "Ann" in lines[3][1]
    assert_single_line(desk_b, thread_id)


def test_a_checkpoint_written_by_another_writer_stops_the_turn_before_it_branches(
        instances: Callable[[str], SupportDesk], server: OpenAICompatibleServer) -> None:
    """Something that bypasses the locks (a LangGraph server on the same database, an admin
    script) writes to the thread during A's model call: A, lock still held, writes nothing."""
    desk_a, desk_b = instances("sqlite"), instances("sqlite")
    thread_id = first_turn(desk_a, server)
    calls = len(server.chat_requests())
    sending = Background(lambda: desk_a.ask("alice", ANN, thread_id=thread_id))
    wait_for_model_calls(server, calls + 1)
    head = desk_b.graph.get_state({"configurable": {"thread_id": thread_id}})
    desk_b.graph.update_state(head.config, {"summary": "written by another writer"})

    with pytest.raises(SupportError) as lost:
        sending.result()

    told = str(lost.value)
    assert isinstance(lost.value, ThreadBusy), told
    assert thread_id in told and "another writer" in told
    assert "saved" in told and "do not send it again" in told
    assert_single_line(desk_b, thread_id)
