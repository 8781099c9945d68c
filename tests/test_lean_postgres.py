"""The lean PostgreSQL write path: keyed blob reads, turns written through their lock's
session, health checks without round trips, and the saver's redundant indexes gone.

Oracles are what PostgreSQL itself reports (EXPLAIN ANALYZE row counts, pg_indexes,
pg_stat_activity) and what LangGraph's stock PostgresSaver reads from the same rows: never
timings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent.backends.pg_saver import KEYED_SELECT_SQL, KeyedPostgresSaver
from agent.errors import SupportError
from agent.persistence.serde import RestrictedSerializer
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.turns import thread_config

pytestmark = pytest.mark.postgres

API_KEY = "test-key"
SCRIPT = ("Where is ORD-1002?", "hello", "list my orders", "What is your return policy?")


@pytest.fixture
def pg_desk(make_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    """A desk on a fresh PostgreSQL database (advisory locks: no Redis)."""
    with SupportDesk.open(make_settings("postgres")) as desk:
        yield desk


def talk(desk: SupportDesk, turns: int, thread_id: str | None = None) -> str:
    """Run `turns` scripted turns for alice; return the thread id."""
    thread_id = thread_id or desk.create_thread("alice").thread_id
    for turn in range(turns):
        desk.ask("alice", SCRIPT[turn % len(SCRIPT)], thread_id=thread_id)
    return thread_id


def blob_rows_read(url: str, thread_id: str, query: str) -> int:
    """How many checkpoint_blobs rows PostgreSQL reads to load the thread's head checkpoint
    (its own counters, flushed by the reading session before they are read)."""
    sql = query + " WHERE thread_id = %s AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1"
    count = ("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
             "FROM pg_stat_user_tables WHERE relname = 'checkpoint_blobs'")
    with psycopg.connect(url, autocommit=True) as reader, \
            psycopg.connect(url, autocommit=True) as watcher:
        watcher.execute("SELECT pg_stat_clear_snapshot()")
        before = watcher.execute(count).fetchone()[0]
        reader.execute(sql, (thread_id,)).fetchall()
        reader.execute("SELECT pg_stat_force_next_flush()")
        reader.execute("SELECT 1")  # a transaction end, where the flush happens
        watcher.execute("SELECT pg_stat_clear_snapshot()")
        return watcher.execute(count).fetchone()[0] - before


def test_keyed_reads_return_exactly_what_the_stock_saver_reads(pg_desk: SupportDesk,
                                                               postgres_url: str) -> None:
    """Every checkpoint of a thread (with tool calls, an approval waiting and its pending
    writes) loads the same through the keyed query as through LangGraph's own."""
    thread_id = talk(pg_desk, 6)
    pg_desk.ask("alice", "I want a refund for ORD-1001, it arrived broken", thread_id=thread_id)
    assert pg_desk.view_thread("alice", thread_id).thread.status == "awaiting_approval"
    with psycopg.connect(postgres_url, autocommit=True,
                         row_factory=psycopg.rows.dict_row) as conn:
        stock = PostgresSaver(conn, serde=RestrictedSerializer())
        keyed = KeyedPostgresSaver(conn, serde=RestrictedSerializer())
        stock_list = list(stock.list(thread_config(thread_id)))
        keyed_list = list(keyed.list(thread_config(thread_id)))
        assert len(keyed_list) == len(stock_list) > 20
        for ours, theirs in zip(keyed_list, stock_list, strict=True):
            assert ours.config == theirs.config
            assert ours.checkpoint == theirs.checkpoint
            assert ours.metadata == theirs.metadata
            assert ours.pending_writes == theirs.pending_writes
        head = keyed.get_tuple(thread_config(thread_id))
        assert head.pending_writes == stock.get_tuple(thread_config(thread_id)).pending_writes
        assert any(write[1] == "__interrupt__" for write in head.pending_writes)


def test_loading_the_head_reads_as_many_blob_rows_at_any_thread_length(
        pg_desk: SupportDesk, postgres_url: str) -> None:
    """Rows read to load the head stay flat as the thread grows (no ANALYZE run): one
    lookup per channel, where a join planned from young statistics read the thread's every
    blob."""
    thread_id = talk(pg_desk, 5)
    early = blob_rows_read(postgres_url, thread_id, KEYED_SELECT_SQL)
    talk(pg_desk, 60, thread_id)
    late = blob_rows_read(postgres_url, thread_id, KEYED_SELECT_SQL)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        blobs = conn.execute("SELECT count(*) FROM checkpoint_blobs WHERE thread_id = %s",
                             (thread_id,)).fetchone()[0]
        channels = len(conn.execute(
            "SELECT checkpoint -> 'channel_versions' FROM checkpoints WHERE thread_id = %s "
            "ORDER BY checkpoint_id DESC LIMIT 1", (thread_id,)).fetchone()[0])
    assert blobs > 100  # the thread has grown many blobs...
    assert 0 < late <= channels  # ...and the head reads one per channel at most
    assert late <= early + 2


def test_the_savers_thread_id_only_indexes_are_dropped(pg_desk: SupportDesk,
                                                       postgres_url: str) -> None:
    """Migration 9 removes the indexes the primary keys already cover (no plan can pick a
    scan of a thread's every row through them), and keeps the primary keys."""
    with psycopg.connect(postgres_url) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('checkpoints', 'checkpoint_blobs', 'checkpoint_writes')")}
    assert names == {"checkpoints_pkey", "checkpoint_blobs_pkey", "checkpoint_writes_pkey"}


def lock_session_pid(desk: SupportDesk, thread_id: str, admin_url: str) -> int:
    """The backend pid of the session holding the thread's advisory lock."""
    deadline = time.monotonic() + 30
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
    raise AssertionError("no advisory lock was taken")


def test_a_turn_writes_only_through_the_session_that_holds_its_lock(
        make_settings: Callable[..., Settings], postgres_url: str) -> None:
    """The lock's session dies mid-turn (a server restart, an admin's kill): the turn stops
    with an error instead of writing on, the thread never branches, and the next message
    finishes the saved work and is answered."""
    with OpenAICompatibleServer(api_key=API_KEY) as server, SupportDesk.open(make_settings(
            "postgres", model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
            openai_base_url=server.base_url)) as desk:
        thread_id = desk.ask("alice", "Hello").thread_id
        before = len(desk.history("alice", thread_id, limit=200))
        server.slow_down(1.0)
        outcome: list[BaseException | object] = []
        worker = threading.Thread(target=lambda: outcome.append(
            _catch(lambda: desk.ask("alice", "My name is Ann", thread_id=thread_id))))
        calls = len(server.chat_requests())
        worker.start()
        while len(server.chat_requests()) <= calls:
            time.sleep(0.01)
        pid = lock_session_pid(desk, thread_id, postgres_url)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        worker.join(60)
        assert isinstance(outcome[0], SupportError), outcome
        # Nothing was written after the session died: the model's reply is not in the thread.
        history = desk.history("alice", thread_id, limit=200)
        assert not any("Ann" in m.text for m in desk.view_thread("alice", thread_id).messages
                       if m.role == "assistant")
        assert len(history) > before  # the message itself was saved before the model call
        server.slow_down(0)
        answered = desk.ask("alice", "What's my name?", thread_id=thread_id)
        assert "Ann" in answered.reply
        parents = [info.parent_id for info in desk.history("alice", thread_id, limit=200)]
        assert len(parents) == len(set(parents))  # one line: no checkpoint has two children


def _catch(call: Callable[[], object]) -> object:
    try:
        return call()
    except BaseException as exc:  # handed to the test
        return exc


def test_connections_killed_by_the_server_are_replaced_at_borrow(pg_desk: SupportDesk,
                                                                 postgres_url: str) -> None:
    """Every idle pooled connection is killed server-side: the next requests still work (the
    borrow notices the closed socket) with no error shown."""
    thread_id = talk(pg_desk, 2)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert killed >= 1
    time.sleep(0.2)  # the server's goodbye reaches the sockets
    for _ in range(3):
        assert pg_desk.list_threads("alice").total >= 1
        assert collect(pg_desk.send_message("alice", "hello", thread_id=thread_id)).reply


def test_a_steps_task_writes_commit_with_its_checkpoint(pg_desk: SupportDesk,
                                                        postgres_url: str) -> None:
    """A turn's ordinary task writes go in the transaction of a checkpoint (PostgreSQL's own
    xmin says which), not one each: at most a run's last few, sent when it ends, have their
    own. Interrupts and resume values are written at once, and an approval still works."""
    thread_id = talk(pg_desk, 8)
    pg_desk.ask("alice", "I want a refund for ORD-1001, it arrived broken", thread_id=thread_id)
    [pending] = pg_desk.pending_approvals("sam")
    collect(pg_desk.decide_approval("sam", thread_id, {"action": "approve"},
                                    interrupt_id=pending.interrupt_id))
    assert pg_desk.view_thread("alice", thread_id).thread.status == "active"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        checkpoint_xids = {row[0] for row in conn.execute(
            "SELECT xmin::text FROM checkpoints WHERE thread_id = %s", (thread_id,))}
        writes = conn.execute(
            "SELECT xmin::text, channel FROM checkpoint_writes WHERE thread_id = %s",
            (thread_id,)).fetchall()
    ordinary = [xid for xid, channel in writes if not channel.startswith("__")]
    alone = {xid for xid in ordinary if xid not in checkpoint_xids}
    assert len(ordinary) > 40
    assert len(alone) <= 10  # 10 runs at most end with writes their last checkpoint missed
    assert any(channel == "__interrupt__" for _, channel in writes)
    assert len(pg_desk.history("alice", thread_id, limit=200)) > 40


def test_the_thread_shows_running_during_a_turn_and_its_outcome_once_the_lock_is_free(
        make_settings: Callable[..., Settings], postgres_url: str) -> None:
    """The running status rides with the turn's first checkpoint and the outcome with the
    unlock: seen from outside, the thread is `running` while the model thinks, and `active`
    with no advisory lock left once the turn is over."""
    with OpenAICompatibleServer(api_key=API_KEY) as server, SupportDesk.open(make_settings(
            "postgres", model=f"openai:{MODEL_ID}", openai_api_key=API_KEY,
            openai_base_url=server.base_url)) as desk:
        thread_id = desk.ask("alice", "Hello").thread_id
        assert desk.threads.get(thread_id).status == "active"
        server.slow_down(1.0)
        calls = len(server.chat_requests())
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(
            _catch(lambda: desk.ask("alice", "My name is Ann", thread_id=thread_id))))
        worker.start()
        while len(server.chat_requests()) <= calls:
            time.sleep(0.01)
        assert desk.threads.get(thread_id).status == "running"
        lock_session_pid(desk, thread_id, postgres_url)  # the lock is held meanwhile
        worker.join(60)
        assert getattr(outcome[0], "status", None) == "active", outcome
        assert desk.threads.get(thread_id).status == "active"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                "database = (SELECT oid FROM pg_database WHERE datname = "
                                "current_database())").fetchone()[0] == 0
