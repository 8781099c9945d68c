"""PostgreSQL restarts under a live app, on a throwaway cluster of the tests' own.

The machine's PostgreSQL is never stopped or restarted by the suite: these tests override
`postgres_url` with a database on a cluster initialised for this module (the `throwaway_postgres`
fixture, tests/support/pg_cluster.py), migrated like the shared template, and restart that.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.databases import clone_database, create_template, database_url, drop_database
from support.histories import REFUND, TRACKING, assert_single_line, customer_texts
from support.openai_server import MODEL_ID, OpenAICompatibleServer
from support.pg_cluster import ThrowawayPostgres

from agent.errors import SupportError, ThreadBusy, Unavailable
from agent.service import SupportDesk, collect
from agent.settings import Settings

pytestmark = pytest.mark.postgres

# A turn started while the server is down must fail, not hang. The pool waits 30 s (its
# default timeout) for a connection before giving up; this leaves margin on a busy machine.
DOWN_FAIL_SECONDS = 40.0
# After an outage the pool reconnects with exponential backoff, so its next attempt can come
# up to about as long after the server is back as the outage lasted (see the report in
# test_turns_fail_fast_while_the_server_is_down_and_work_again_after).
RECOVERY_SECONDS = 90.0


# --- the PostgreSQL server under test ---------------------------------------------------------


@pytest.fixture(scope="module")
def throwaway_template(throwaway_postgres: ThrowawayPostgres) -> str:
    """A migrated template on the throwaway cluster (deleted with the cluster)."""
    return create_template(throwaway_postgres.url())


@pytest.fixture
def postgres_url(throwaway_postgres: ThrowawayPostgres, throwaway_template: str) -> Iterator[str]:
    """Overrides conftest's: a fresh database on the throwaway cluster, not the shared server."""
    admin_url = throwaway_postgres.url()
    name = clone_database(admin_url, throwaway_template)
    try:
        yield database_url(admin_url, name)
    finally:
        throwaway_postgres.start()  # a failed test may have left it stopped
        drop_database(admin_url, name)


@pytest.fixture
def cluster(postgres_url: str,
            throwaway_postgres: ThrowawayPostgres) -> Iterator[ThrowawayPostgres]:
    """The throwaway cluster serving the test database, running again after the test."""
    try:
        yield throwaway_postgres
    finally:
        throwaway_postgres.start()


# --- helpers ----------------------------------------------------------------------------------


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
