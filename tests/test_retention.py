"""Retention (`SupportDesk.collect_garbage`): keep the newest K checkpoints, let idle threads go,
remove crash leftovers, give space back, and never break what a kept thread needs: its latest
state, an approval waiting, history and time travel. Real SQLite files and PostgreSQL databases.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from agent.backends.retention import ORPHAN_AGE_SECONDS, checkpoint_time
from agent.core.memory import PROFILE_KEY, profile_namespace
from agent.errors import InvalidInput
from agent.persistence.threads import new_thread_id
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.turns import thread_config

TRIMMING = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
EVERY_SAVER = [pytest.param("memory", id="memory"), *TRIMMING]
DAY = 86400.0


@pytest.fixture
def open_desk(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., SupportDesk]]:
    """Open desks on a saver kind (with setting overrides); all closed afterwards."""
    opened: list[SupportDesk] = []

    def open_(saver: str, **overrides) -> SupportDesk:
        desk = SupportDesk.open(make_settings(saver, **overrides))
        opened.append(desk)
        return desk

    yield open_
    for desk in reversed(opened):
        desk.close()


def conversation(desk: SupportDesk, turns: int, user: str = "alice") -> str:
    """A thread with `turns` answered questions (several checkpoints each); its id."""
    thread_id = desk.ask(user, "Where is ORD-1002?").thread_id
    for turn in range(turns - 1):
        desk.ask(user, f"And where is ORD-100{turn % 3 + 1}?", thread_id=thread_id)
    return thread_id


def checkpoint_ids(desk: SupportDesk, thread_id: str) -> list[str]:
    """The thread's checkpoints, newest first, as the saver lists them."""
    return [saved.config["configurable"]["checkpoint_id"]
            for saved in desk.persistence.checkpointer.list(thread_config(thread_id))]


def values(desk: SupportDesk, thread_id: str) -> dict:
    """The thread's latest state."""
    return desk.turns.state(thread_id).values


def age(desk: SupportDesk, thread_id: str, seconds: float) -> None:
    """Make a registered thread look untouched (and created) `seconds` ago."""
    then = time.time() - seconds
    desk.persistence.db.execute(
        "UPDATE support_threads SET created_at = ?, updated_at = ? WHERE thread_id = ?",
        (then, then, thread_id))


def row_counts(desk: SupportDesk) -> dict[str, int]:
    """Rows in the tables retention must never touch."""
    return {table: desk.persistence.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")["n"]
            for table in ("support_ledger", "support_audit", "support_feedback",
                          "support_users", "support_orders")}


def old_checkpoint_id(seconds_ago: float) -> str:
    """A LangGraph-style checkpoint id (UUID v6) stamped `seconds_ago`."""
    ticks = int((time.time() - seconds_ago) * 1e7) + 0x01B21DD213814000
    high = ((ticks >> 28) << 32) | (((ticks >> 12) & 0xFFFF) << 16) | (0x6 << 12) \
        | (ticks & 0x0FFF)
    low = (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=(high << 64) | low))


def plant_checkpoint(desk: SupportDesk, thread_id: str, seconds_ago: float) -> str:
    """Write a checkpoint (with a blob and a pending write) through the saver, as a crash left
    it: no registry row."""
    checkpoint = empty_checkpoint()
    checkpoint["id"] = old_checkpoint_id(seconds_ago)
    checkpoint["channel_values"] = {"messages": [HumanMessage("left behind", id="m1")]}
    checkpoint["channel_versions"] = {"messages": "1"}
    saver = desk.persistence.checkpointer
    config = saver.put(thread_config(thread_id), checkpoint, {"source": "loop", "step": 0},
                       {"messages": "1"})
    saver.put_writes(config, [("messages", [HumanMessage("pending", id="m2")])], "task-1")
    return checkpoint["id"]


def postgres_rows(desk: SupportDesk, table: str, thread_id: str) -> int:
    """Rows of one of LangGraph's PostgreSQL tables for a thread."""
    return desk.persistence.db.fetch_one(
        f"SELECT COUNT(*) AS n FROM {table} WHERE thread_id = ?", (thread_id,))["n"]


def unreferenced_blobs(desk: SupportDesk, thread_id: str) -> int:
    """PostgreSQL blobs of the thread that no checkpoint's channel_versions names."""
    return desk.persistence.db.fetch_one(
        "SELECT COUNT(*) AS n FROM checkpoint_blobs b WHERE b.thread_id = ? AND NOT EXISTS ("
        " SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id"
        " AND c.checkpoint_ns = b.checkpoint_ns"
        " AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
        (thread_id,))["n"]


# --- keep the newest K ------------------------------------------------------------------------


@pytest.mark.parametrize("saver", TRIMMING)
def test_keeps_exactly_k_and_the_latest_state(open_desk, saver: str) -> None:
    """K checkpoints stay, the newest ones; the state is unchanged and the thread goes on."""
    desk = open_desk(saver)
    long = conversation(desk, 5)
    short = conversation(desk, 1, user="bob")
    ids, short_ids = checkpoint_ids(desk, long), checkpoint_ids(desk, short)
    assert len(ids) > 6 and len(short_ids) <= 6
    before = values(desk, long)

    report = desk.collect_garbage(keep=6)

    assert checkpoint_ids(desk, long) == ids[:6]
    assert checkpoint_ids(desk, short) == short_ids
    assert report.threads_scanned == 2 and report.threads_trimmed == 1
    assert report.checkpoints_deleted == len(ids) - 6
    assert report.writes_deleted > 0 and report.threads_skipped_busy == 0
    assert values(desk, long) == before
    # The oldest kept checkpoint lost its parent, as with LangGraph's own prune.
    oldest = desk.turns.state(long, ids[5])
    assert oldest.parent_config is None
    again = desk.ask("alice", "Where is ORD-1003?", thread_id=long)
    assert again.status == "active" and "ORD-1003" in again.reply
    assert len(checkpoint_ids(desk, long)) > 6


@pytest.mark.parametrize("saver", TRIMMING)
def test_history_fork_and_replay_of_a_kept_checkpoint(open_desk, saver: str) -> None:
    """History pages end at the oldest kept checkpoint; forking and replaying one works."""
    desk = open_desk(saver)
    thread = conversation(desk, 4)
    desk.collect_garbage(keep=8)

    history = desk.history("alice", thread, limit=50)
    assert len(history) == 8
    assert history[-1].parent_id is None
    assert all(step.parent_id for step in history[:-1])
    exported = desk.export_thread("alice", thread)
    assert len(exported["checkpoints"]) == 8

    forkable = next(step for step in history if step.can_fork)
    state = desk.state_at("alice", thread, forkable.checkpoint_id)
    assert state.messages
    forked = collect(desk.fork("alice", thread, forkable.checkpoint_id, "Where is ORD-1003?"))
    assert forked.status == "active" and "ORD-1003" in forked.reply

    replayable = next(step for step in desk.history("alice", thread, limit=50)
                      if step.next_nodes and not step.awaiting_approval)
    replayed = collect(desk.replay("alice", thread, replayable.checkpoint_id))
    assert replayed.status == "active"
    oldest = desk.history("alice", thread, limit=50)[-1]
    assert desk.state_at("alice", thread, oldest.checkpoint_id).info.parent_id is None


@pytest.mark.parametrize("saver", TRIMMING)
def test_an_approval_waiting_before_gc_is_decided_after_it_once(open_desk, saver: str) -> None:
    """Trimmed to one checkpoint and idle for months, the request still waits; approving it
    refunds exactly once, and the thread is not deleted."""
    desk = open_desk(saver)
    thread = conversation(desk, 3)
    waiting = desk.ask("alice", "Please refund ORD-1001, the boots leak", thread_id=thread)
    assert waiting.status == "awaiting_approval"
    before = values(desk, thread)
    age(desk, thread, 90 * DAY)

    report = desk.collect_garbage(keep=1, idle_days=30, strategy="delete")

    assert report.threads_deleted == 0 and report.threads_trimmed == 1
    assert len(checkpoint_ids(desk, thread)) == 1
    assert desk.threads.get(thread) is not None
    assert values(desk, thread) == before
    [pending] = desk.pending_approvals("sam")
    assert pending.thread_id == thread
    decided = collect(desk.decide_approval("sam", thread, {"action": "approve"}))
    assert decided.status == "active" and "Refunded $129.00" in decided.reply
    with pytest.raises(InvalidInput):
        collect(desk.decide_approval("sam", thread, {"action": "approve"}))
    assert [entry.kind for entry in desk.shop.ledger()] == ["refund"]
    assert [row.action for row in desk.audit_trail("sam")] == ["approve"]


@pytest.mark.parametrize("saver", TRIMMING)
def test_a_handoff_thread_is_trimmed_never_deleted(open_desk, saver: str) -> None:
    """A thread with a person from the team stays, whatever its idle time."""
    desk = open_desk(saver)
    thread = desk.ask("alice", "I want to talk to a person").thread_id
    assert desk.threads.get(thread).status == "handoff"
    age(desk, thread, 90 * DAY)
    report = desk.collect_garbage(idle_days=30, strategy="delete", keep=2)
    assert report.threads_deleted == 0
    assert desk.threads.get(thread).status == "handoff"
    assert len(checkpoint_ids(desk, thread)) == 2


# --- idle threads -----------------------------------------------------------------------------


@pytest.mark.parametrize("saver", EVERY_SAVER)
def test_idle_delete_keeps_audit_ledger_feedback_and_memory(open_desk, saver: str) -> None:
    """An idle thread goes (registry row and checkpoints); what it caused stays."""
    desk = open_desk(saver)
    idle = desk.ask("alice", "My name is Alice").thread_id
    refund = desk.ask("alice", "Please refund ORD-1001, the boots leak", thread_id=idle)
    assert refund.status == "awaiting_approval"
    collect(desk.decide_approval("sam", idle, {"action": "approve"}))
    last_reply = desk.view_thread("alice", idle).messages[-1]
    desk.rate_reply("alice", idle, last_reply.id, 1)
    recent = conversation(desk, 1, user="bob")
    counts = row_counts(desk)
    age(desk, idle, 40 * DAY)

    dry = desk.collect_garbage(idle_days=30, strategy="delete", dry_run=True)
    assert dry.threads_deleted == 1 and desk.threads.get(idle) is not None
    report = desk.collect_garbage(idle_days=30, strategy="delete")

    assert report.threads_deleted == 1 and report.threads_scanned == 2
    assert report.checkpoints_deleted == dry.checkpoints_deleted > 0
    assert desk.threads.get(idle) is None
    assert checkpoint_ids(desk, idle) == []
    assert checkpoint_ids(desk, recent) != []
    assert row_counts(desk) == counts
    profile = desk.persistence.store.get(profile_namespace("acme", "alice"), PROFILE_KEY)
    assert profile is not None
    if saver == "postgres":
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            assert postgres_rows(desk, table, idle) == 0


@pytest.mark.parametrize("saver", TRIMMING)
def test_idle_keep_latest_keeps_one_checkpoint_and_the_thread(open_desk, saver: str) -> None:
    """keep_latest: only the head stays, the state is the same and the thread resumes."""
    desk = open_desk(saver)
    idle = conversation(desk, 3)
    active = conversation(desk, 3, user="bob")
    active_ids = checkpoint_ids(desk, active)
    before = values(desk, idle)
    head = checkpoint_ids(desk, idle)[0]
    age(desk, idle, 40 * DAY)

    report = desk.collect_garbage(idle_days=30)  # the default strategy: keep_latest

    assert report.threads_trimmed == 1 and report.threads_deleted == 0
    assert checkpoint_ids(desk, idle) == [head]
    assert checkpoint_ids(desk, active) == active_ids
    assert values(desk, idle) == before
    assert [step.parent_id for step in desk.history("alice", idle)] == [None]
    assert desk.ask("alice", "Where is ORD-1003?", thread_id=idle).status == "active"
    if saver == "postgres":
        assert unreferenced_blobs(desk, idle) == 0


def test_memory_saver_deletes_idle_threads_only(open_desk) -> None:
    """The memory saver's API deletes whole threads: K and keep_latest do not apply, and the
    report says so."""
    desk = open_desk("memory")
    kept = conversation(desk, 3)
    ids = checkpoint_ids(desk, kept)
    age(desk, kept, 40 * DAY)
    report = desk.collect_garbage(keep=1, idle_days=30, strategy="keep_latest")
    assert checkpoint_ids(desk, kept) == ids
    assert any("memory saver" in note for note in report.notes)
    report = desk.collect_garbage(idle_days=30, strategy="delete")
    assert report.threads_deleted == 1 and checkpoint_ids(desk, kept) == []


# --- busy threads, dry runs -------------------------------------------------------------------


@pytest.mark.parametrize("saver", EVERY_SAVER)
def test_a_thread_with_a_live_turn_is_skipped(open_desk, saver: str) -> None:
    """A held lock means a turn runs: the sweep counts the thread and leaves it alone."""
    desk = open_desk(saver)
    busy = conversation(desk, 3)
    free = conversation(desk, 3, user="bob")
    busy_ids = checkpoint_ids(desk, busy)
    age(desk, busy, 40 * DAY)
    with desk.persistence.locks.hold(busy, 0):
        report = desk.collect_garbage(keep=1, idle_days=30, strategy="delete")
    assert report.threads_skipped_busy == 1
    assert checkpoint_ids(desk, busy) == busy_ids
    assert desk.threads.get(busy) is not None
    if saver != "memory":
        assert len(checkpoint_ids(desk, free)) == 1


@pytest.mark.parametrize("saver", TRIMMING)
def test_a_dry_run_changes_nothing_and_counts_what_a_sweep_does(open_desk, saver: str) -> None:
    desk = open_desk(saver)
    threads = [conversation(desk, 3), conversation(desk, 2, user="bob")]
    before = {thread: checkpoint_ids(desk, thread) for thread in threads}
    age(desk, threads[1], 40 * DAY)

    dry = desk.collect_garbage(keep=2, idle_days=30, strategy="delete", dry_run=True)
    assert dry.dry_run and dry.reclaimed == "none"
    assert {thread: checkpoint_ids(desk, thread) for thread in threads} == before
    assert all(desk.threads.get(thread) for thread in threads)

    real = desk.collect_garbage(keep=2, idle_days=30, strategy="delete")
    assert (dry.threads_trimmed, dry.threads_deleted, dry.checkpoints_deleted,
            dry.writes_deleted, dry.blobs_deleted) == (
        real.threads_trimmed, real.threads_deleted, real.checkpoints_deleted,
        real.writes_deleted, real.blobs_deleted)
    assert real.threads_trimmed == 1 and real.threads_deleted == 1


def test_bad_overrides_are_refused(open_desk) -> None:
    desk = open_desk("sqlite")
    for bad in ({"keep": 0}, {"idle_days": -1}, {"strategy": "shred"}, {"keep": 1.5}):
        with pytest.raises(InvalidInput):
            desk.collect_garbage(**bad)


# --- what crashes leave ------------------------------------------------------------------------


def test_checkpoint_time_reads_langgraph_ids(open_desk) -> None:
    desk = open_desk("sqlite")
    thread = conversation(desk, 1)
    written = checkpoint_time(checkpoint_ids(desk, thread)[0])
    assert written is not None and abs(written - time.time()) < 600
    assert abs(checkpoint_time(old_checkpoint_id(7200)) - (time.time() - 7200)) < 5
    assert checkpoint_time("not-a-uuid") is None


@pytest.mark.parametrize("saver", EVERY_SAVER)
def test_orphans_are_removed_once_old(open_desk, saver: str) -> None:
    """Registry rows that never got a checkpoint and checkpoints whose registry row is gone go
    once over an hour old; younger ones (a thread being born or deleted) stay."""
    desk = open_desk(saver)
    living = conversation(desk, 1)
    old_row = desk.threads.create("acme", "alice", "never answered").thread_id
    age(desk, old_row, 2 * ORPHAN_AGE_SECONDS)
    young_row = desk.threads.create("acme", "alice", "being born").thread_id
    running_row = desk.threads.create("acme", "alice", "running").thread_id
    desk.threads.set_status(running_row, "running")
    age(desk, running_row, 2 * ORPHAN_AGE_SECONDS)
    old_orphan, young_orphan = new_thread_id(), new_thread_id()
    plant_checkpoint(desk, old_orphan, 2 * ORPHAN_AGE_SECONDS)
    plant_checkpoint(desk, young_orphan, 60)
    foreign = str(uuid.uuid4())  # not an id the app makes (LangGraph Server's, say)
    plant_checkpoint(desk, foreign, 2 * ORPHAN_AGE_SECONDS)

    dry = desk.collect_garbage(keep=5, dry_run=True)
    assert (dry.orphan_registry_rows, dry.orphan_checkpoint_threads) == (1, 1)
    assert checkpoint_ids(desk, old_orphan) and desk.threads.get(old_row)

    report = desk.collect_garbage(keep=5)

    assert report.orphan_registry_rows == 1 and report.orphan_checkpoint_threads == 1
    assert desk.threads.get(old_row) is None
    assert desk.threads.get(young_row) is not None and desk.threads.get(running_row) is not None
    assert checkpoint_ids(desk, old_orphan) == []
    assert checkpoint_ids(desk, young_orphan) != [] and checkpoint_ids(desk, foreign) != []
    assert checkpoint_ids(desk, living) != []
    if saver == "postgres":
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            assert postgres_rows(desk, table, old_orphan) == 0
        assert postgres_rows(desk, "checkpoint_blobs", young_orphan) == 1


def test_lock_files_of_threads_gone_are_removed_when_free(open_desk) -> None:
    desk = open_desk("sqlite")
    living = conversation(desk, 1)
    locks = desk.persistence.locks.directory
    gone, held, young = new_thread_id(), new_thread_id(), new_thread_id()
    for thread in (gone, held, young):
        (locks / f"{thread}.lock").touch()
    stale = time.time() - 2 * ORPHAN_AGE_SECONDS
    for thread in (gone, held, living):
        os.utime(locks / f"{thread}.lock", (stale, stale))
    with desk.persistence.locks.hold(held, 0):
        report = desk.collect_garbage(keep=5)
    assert report.orphan_lock_files == 1
    assert not (locks / f"{gone}.lock").exists()
    assert (locks / f"{held}.lock").exists() and (locks / f"{young}.lock").exists()
    assert (locks / f"{living}.lock").exists()


# --- space --------------------------------------------------------------------------------------


def test_a_new_sqlite_file_gives_space_back(open_desk, tmp_path: Path) -> None:
    """New files use incremental auto-vacuum: after a sweep the file is smaller."""
    desk = open_desk("sqlite")
    path = Path(desk.persistence.db.path)
    assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    threads = [conversation(desk, 6), conversation(desk, 6, user="bob")]
    report = desk.collect_garbage(keep=2)
    assert report.reclaimed == "incremental vacuum"
    assert report.bytes_after < report.bytes_before
    assert path.stat().st_size == report.bytes_after  # the WAL was written back and emptied
    assert all(len(checkpoint_ids(desk, thread)) == 2 for thread in threads)


@pytest.mark.postgres
def test_a_postgres_sweep_vacuums_the_checkpoint_tables_and_the_registry(open_desk) -> None:
    """Every sweep ends with a plain VACUUM of what it deleted from and of the registry
    (two status writes per turn, each version in every index): PostgreSQL's own statistics
    show a manual vacuum of each, whatever autovacuum did."""
    desk = open_desk("postgres")
    conversation(desk, 4)
    report = desk.collect_garbage(keep=2)
    assert report.reclaimed == "VACUUM of the checkpoint tables and the thread registry"
    rows = desk.persistence.db.fetch_all(
        "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL")
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "support_threads"} <= {
        row["relname"] for row in rows}


def test_an_old_sqlite_file_is_told_to_vacuum_and_vacuum_converts_it(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """A file made before auto-vacuum does not shrink by itself: the report says to run
    `gc --vacuum`, which does a full VACUUM and switches the file to incremental."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)  # as the app made files before: no auto_vacuum pragma
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE made_before (x)")
    old.close()
    with SupportDesk.open(make_settings("sqlite", sqlite_path=path)) as desk:
        threads = [conversation(desk, 4), conversation(desk, 4, user="bob")]
        report = desk.collect_garbage(keep=1)
        assert report.reclaimed == "none"
        assert any("--vacuum" in note for note in report.notes)
        report = desk.collect_garbage(keep=1, vacuum=True)
        assert report.reclaimed.startswith("full VACUUM")
        assert report.bytes_after < report.bytes_before
        assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert all(desk.ask("alice" if i == 0 else "bob", "Where is ORD-1002?",
                            thread_id=thread).status == "active"
                   for i, thread in enumerate(threads))


@pytest.mark.postgres
def test_postgres_deletes_in_small_batches_and_leaves_no_stray_blobs(open_desk) -> None:
    """Many checkpoints, a batch of 3 rows: the sweep finishes, K stay, and every blob left is
    one a kept checkpoint references (and every one they reference is there)."""
    desk = open_desk("postgres", retention_batch_size=3)
    thread = conversation(desk, 8)
    ids = checkpoint_ids(desk, thread)
    blobs_before = postgres_rows(desk, "checkpoint_blobs", thread)
    before = values(desk, thread)

    report = desk.collect_garbage(keep=4)

    assert checkpoint_ids(desk, thread) == ids[:4]
    assert report.checkpoints_deleted == len(ids) - 4
    assert report.blobs_deleted > 0
    assert postgres_rows(desk, "checkpoint_blobs", thread) == blobs_before - report.blobs_deleted
    assert unreferenced_blobs(desk, thread) == 0
    assert values(desk, thread) == before
    for kept in ids[:4]:  # every kept checkpoint still loads whole
        assert desk.turns.state(thread, kept).values["messages"]
    writes_for_gone = desk.persistence.db.fetch_one(
        "SELECT COUNT(*) AS n FROM checkpoint_writes WHERE thread_id = ?"
        " AND NOT (checkpoint_id = ANY(?))", (thread, ids[:4]))["n"]
    assert writes_for_gone == 0
    vacuumed = desk.collect_garbage(keep=4, vacuum=True)
    assert vacuumed.reclaimed.startswith("VACUUM") and vacuumed.checkpoints_deleted == 0


# --- the in-process sweeper ---------------------------------------------------------------------


def test_the_sweeper_runs_in_the_background_and_stops_on_close(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings("sqlite", retention_keep_checkpoints=2,
                             retention_sweep_minutes=0.002)
    desk = SupportDesk.open(settings)
    try:
        sweeper = desk._sweeper
        assert sweeper is not None and sweeper.is_alive()
        thread = conversation(desk, 3)
        deadline = time.monotonic() + 60  # a wait for the sweeper, not a timing check
        while len(checkpoint_ids(desk, thread)) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(checkpoint_ids(desk, thread)) == 2
    finally:
        desk.close()
    assert not sweeper.is_alive()


def test_a_failing_sweep_is_logged_and_the_sweeper_goes_on(
        make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings("sqlite", retention_keep_checkpoints=2,
                             retention_sweep_minutes=0.002)
    desk = SupportDesk.open(settings)
    calls: list[int] = []
    real_sweep = desk.collect_garbage

    def first_one_fails(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real_sweep(**kwargs)

    try:
        with caplog.at_level("ERROR", logger="agent.service.retention"):
            desk.collect_garbage = first_one_fails
            deadline = time.monotonic() + 60  # a wait for the sweeper, not a timing check
            while len(calls) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert len(calls) >= 3 and desk._sweeper.is_alive()
        assert "retention sweep failed" in caplog.text
        assert desk.ask("alice", "Where is ORD-1002?").status == "active"
    finally:
        desk.close()


def test_no_sweeper_unless_configured(open_desk) -> None:
    desk = open_desk("sqlite", retention_keep_checkpoints=2)
    assert desk._sweeper is None


@pytest.mark.postgres
def test_a_postgres_sweep_makes_the_deleted_space_reusable_at_once(
        make_settings: Callable[..., Settings], postgres_url: str) -> None:
    """A sweep vacuums the checkpoint tables itself (rather than leaving the dead rows for
    autovacuum to find minutes later), so new turns reuse the space retention freed."""
    import psycopg

    with SupportDesk.open(make_settings("postgres")) as desk:
        conversation(desk, 6)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            swept_from = conn.execute("SELECT now()").fetchone()[0]
        report = desk.collect_garbage(keep=2)
        assert report.checkpoints_deleted > 0
        assert report.reclaimed.startswith("VACUUM")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(
            "SELECT relname, last_vacuum FROM pg_stat_user_tables WHERE relname IN "
            "('checkpoints', 'checkpoint_blobs', 'checkpoint_writes')").fetchall()
    assert len(rows) == 3
    assert all(last and last >= swept_from for _, last in rows), rows


def test_gc_removes_the_attachments_of_deleted_threads_and_keeps_the_others(
        desk: SupportDesk) -> None:
    """gc runs the attachment sweep: a deleted thread's photo leaves the blob store once past
    the grace period that protects uploads in flight; a kept thread's photo stays and opens."""
    from support.files import pdf_bytes, png_bytes

    from agent.backends.blob_sweep import (
        ATTACHMENT_GRACE_SECONDS,
        remove_unreferenced_attachments,
    )

    gone = desk.ask("alice", "The screen is cracked",
                    attachments=[("cracked.png", "image/png", png_bytes())]).thread_id
    kept = desk.ask("alice", "Here is my receipt",
                    attachments=[("receipt.pdf", "application/pdf", pdf_bytes())]).thread_id
    assert len(list(desk.persistence.blobs.list_ids())) == 2
    desk.delete_thread("alice", gone)

    report = desk.collect_garbage(keep=50)
    assert report.attachments_removed == 0  # the sweep ran; the photo is still young
    assert desk.collect_garbage(keep=50, dry_run=True).attachments_removed is None
    later = time.time() + ATTACHMENT_GRACE_SECONDS + 60
    assert remove_unreferenced_attachments(desk.persistence, desk.threads, now=later) == 1

    assert len(list(desk.persistence.blobs.list_ids())) == 1
    [attachment] = desk.thread_attachments("alice", kept)
    assert desk.attachment("alice", kept, attachment.id).data == pdf_bytes()
