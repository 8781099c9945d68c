"""Checkpoint retention: one sweep keeps each thread's newest checkpoints and lets idle ones go.

A sweep, thread by thread, under the thread's own lock (a thread with a live turn is skipped
and counted, never waited for):

- keeps the newest K checkpoints of the root namespace, and always the head with its pending
  writes (what an open approval, a handoff or a crashed turn resumes from), plus the parent a
  kept checkpoint of LangGraph's older format reads its pending sends from; a kept
  checkpoint whose parent goes is left without one (as LangGraph's own prune does), so the
  History view shows it as where the thread's history starts;
- applies the idle strategy to threads untouched for `idle_days` (the registry's updated_at):
  `delete` removes the thread's checkpoints and registry row (never audit, ledger or feedback
  rows, never the long-term store), except a thread that waits for a supervisor, is with a
  person, or has pending work, which is only trimmed; `keep_latest` keeps the latest checkpoint;
- removes what crashes leave behind: registry rows that never got a checkpoint, checkpoints
  whose registry row is gone, and lock files of threads that no longer exist, each only once
  it is over an hour old (a thread is registered just before its first checkpoint is written);
- gives space back: SQLite's incremental vacuum (full VACUUM on request), PostgreSQL's VACUUM
  on request.

The memory saver can only delete whole threads through its API: there, idle threads are
deleted with the `delete` strategy, and nothing else changes (no keep-last-K, no keep_latest);
the report says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.backends.base import Backend
from agent.backends.retention_sql import (
    CheckpointRows,
    Deleted,
    MemoryRows,
    PostgresRows,
    SqliteRows,
)
from agent.errors import InvalidInput, SupportError, ThreadBusy
from agent.persistence.locks import FileThreadLocks
from agent.persistence.threads import ThreadRecord, ThreadRegistry, is_thread_id
from agent.settings import Settings

log = logging.getLogger(__name__)

Strategy = Literal["delete", "keep_latest"]
STRATEGIES: tuple[str, ...] = ("delete", "keep_latest")
# A crash's leftovers are only taken once this old: younger ones may be a thread being born
# (registered just before its first checkpoint) or being deleted right now.
ORPHAN_AGE_SECONDS = 3600.0
# Never deleted, whatever the idle strategy: waiting for a supervisor, with a person, or with
# work a crash left pending (a stale `running` is one too). Trimming keeps what they resume from.
NEVER_DELETED = frozenset({"awaiting_approval", "handoff", "interrupted", "running"})
PAGE = 500  # threads read per query while walking the registry and the checkpoints

# The attachments' hook: given the backend and whether this is a dry run, remove (or count)
# the attachment blobs that no kept checkpoint references any more; returns how many.
AttachmentSweep = Callable[[Backend, bool], int]


@dataclass(frozen=True)
class RetentionPolicy:
    """What one sweep does: keep K, what happens to idle threads, and how it deletes."""

    keep_checkpoints: int | None = None
    idle_days: float | None = None
    strategy: Strategy = "keep_latest"
    batch_size: int = 500
    dry_run: bool = False
    vacuum: bool = False  # SQLite: full VACUUM; PostgreSQL: VACUUM (ANALYZE) of the tables

    @classmethod
    def from_settings(cls, settings: Settings, *, keep: int | None = None,
                      idle_days: float | None = None, strategy: str | None = None,
                      dry_run: bool = False, vacuum: bool = False) -> RetentionPolicy:
        """The configured policy, with one sweep's overrides (checked: InvalidInput)."""
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int)
                                 or keep < 1):
            raise InvalidInput(f"keep must be a whole number of checkpoints, at least 1 "
                               f"(got {keep!r})")
        if idle_days is not None and (isinstance(idle_days, bool)
                                      or not isinstance(idle_days, int | float)
                                      or not idle_days > 0 or idle_days == float("inf")):
            raise InvalidInput(f"idle days must be a number of days above 0 (got {idle_days!r})")
        if strategy is not None and strategy not in STRATEGIES:
            raise InvalidInput(f"unknown strategy {strategy!r}; use delete or keep_latest")
        return cls(
            keep_checkpoints=keep if keep is not None else settings.retention_keep_checkpoints,
            idle_days=idle_days if idle_days is not None else settings.retention_idle_days,
            strategy=strategy or settings.retention_strategy,  # type: ignore[arg-type]
            batch_size=settings.retention_batch_size, dry_run=dry_run, vacuum=vacuum)

    @property
    def enabled(self) -> bool:
        """True when something is set to go: a number to keep, or an idle time."""
        return self.keep_checkpoints is not None or self.idle_days is not None

    def describe(self) -> str:
        """The policy in words, for reports and logs."""
        parts = [f"keep the newest {self.keep_checkpoints} checkpoints"
                 if self.keep_checkpoints else "keep every checkpoint"]
        if self.idle_days:
            parts.append(f"{self.strategy} threads idle over {self.idle_days:g} days")
        return "; ".join(parts)


@dataclass
class RetentionReport:
    """What one sweep did (or, in a dry run, would do)."""

    saver: str
    policy: str
    dry_run: bool = False
    threads_scanned: int = 0
    threads_trimmed: int = 0  # lost checkpoints (keep K, or keep_latest when idle)
    threads_deleted: int = 0  # idle, strategy delete
    threads_skipped_busy: int = 0  # a live turn held the lock
    threads_failed: int = 0  # an error (logged, in `problems`): the next sweep tries again
    checkpoints_deleted: int = 0
    writes_deleted: int = 0
    blobs_deleted: int = 0
    orphan_registry_rows: int = 0  # registered, never got a checkpoint
    orphan_checkpoint_threads: int = 0  # checkpoints without a registry row
    orphan_lock_files: int = 0  # SQLite's per-thread lock files of threads gone
    attachments_removed: int | None = None  # None: no attachment sweep wired in
    bytes_before: int | None = None
    bytes_after: int | None = None
    reclaimed: str = "none"
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def count(self, deleted: Deleted) -> None:
        """Add a step's deleted rows."""
        self.checkpoints_deleted += deleted.checkpoints
        self.writes_deleted += deleted.writes
        self.blobs_deleted += deleted.blobs


def checkpoint_rows(backend: Backend, batch: int) -> CheckpointRows:
    """The checkpoint storage of a backend, as retention reads and deletes it."""
    if backend.kind == "memory":
        return MemoryRows(backend.checkpointer, batch)
    if backend.dialect == "postgres":
        return PostgresRows(backend.checkpointer, backend.db, batch)
    return SqliteRows(backend.checkpointer, backend.db, batch,
                      Path(getattr(backend.db, "path")))  # noqa: B009 - SqliteDatabase's


def checkpoint_time(checkpoint_id: str) -> float | None:
    """When a checkpoint was written, from its id (LangGraph's ids are time-based UUIDs)."""
    try:
        value = uuid.UUID(checkpoint_id)
    except (ValueError, TypeError):
        return None
    if value.version == 6:
        high = value.int >> 64
        ticks = ((high >> 32) << 28) | (((high >> 16) & 0xFFFF) << 12) | (high & 0x0FFF)
    elif value.version == 1:
        ticks = value.time
    else:
        return None
    return (ticks - 0x01B21DD213814000) / 1e7  # 100 ns steps since 1582-10-15 -> Unix time


def sweep(backend: Backend, registry: ThreadRegistry, policy: RetentionPolicy, *,
          attachment_sweep: AttachmentSweep | None = None,
          stop: threading.Event | None = None) -> RetentionReport:
    """Run one retention sweep over every thread; see the module's docstring."""
    return _Sweep(backend, registry, policy, attachment_sweep, stop).run()


class _Sweep:
    def __init__(self, backend: Backend, registry: ThreadRegistry, policy: RetentionPolicy,
                 attachment_sweep: AttachmentSweep | None, stop: threading.Event | None):
        self.backend = backend
        self.registry = registry
        self.policy = policy
        self.rows = checkpoint_rows(backend, policy.batch_size)
        self.attachment_sweep = attachment_sweep
        self.stop = stop or threading.Event()
        self.now = time.time()
        self.report = RetentionReport(saver=backend.kind, policy=policy.describe(),
                                      dry_run=policy.dry_run)

    def run(self) -> RetentionReport:
        started = time.monotonic()
        report = self.report
        if not self.rows.can_trim:
            report.notes.append("memory saver: its API deletes whole threads only, so only "
                                "the delete strategy for idle threads applies (keep-last-K and "
                                "keep_latest do not)")
        report.bytes_before = self.rows.size_bytes()
        for thread_id in self._registered():
            if self.stop.is_set():
                report.notes.append("stopped before the end (the app is closing)")
                break
            report.threads_scanned += 1
            self._retain(thread_id)
        if not self.stop.is_set():
            self._orphan_checkpoints()
            self._orphan_lock_files()
        # HOOK (attachments): blobs that no kept checkpoint references any more go here,
        # after every checkpoint that could reference one has been deleted.
        if self.attachment_sweep is not None and not self.stop.is_set():
            report.attachments_removed = self.attachment_sweep(self.backend, self.policy.dry_run)
        if not self.policy.dry_run:
            report.reclaimed, notes = self.rows.reclaim(full=self.policy.vacuum)
            report.notes += notes
        report.bytes_after = self.rows.size_bytes()
        report.seconds = time.monotonic() - started
        return report

    # --- one thread ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _thread_errors(self, thread_id: str) -> Iterator[None]:
        """Count a busy thread as skipped, and report (not raise) one thread's failure."""
        try:
            yield
        except ThreadBusy:
            self.report.threads_skipped_busy += 1
        except (SupportError, NotImplementedError, OSError, *_driver_errors()) as exc:
            # One thread's failure (a lock timeout, a DeltaChannel LangGraph's prune refuses)
            # must not stop the sweep: it is reported and the next sweep tries again.
            self.report.threads_failed += 1
            self.report.problems.append(f"{thread_id}: {exc}")
            log.warning("retention skipped thread %s: %s", thread_id, exc)

    def _under_lock(self, thread_id: str, work: Callable[[], None]) -> None:
        """Do one thread's work holding its lock (taken without waiting)."""
        with self._thread_errors(thread_id), self.backend.locks.hold(thread_id, 0):
            work()

    def _retain(self, thread_id: str) -> None:
        """Plan without the lock (most threads need nothing: no lock taken, none busy), then
        plan again and act under it, on the thread as it is by then."""
        with self._thread_errors(thread_id):
            if self._plan(thread_id) is None:
                return
            with self.backend.locks.hold(thread_id, 0):
                self._act(thread_id)

    def _act(self, thread_id: str) -> None:
        work = self._plan(thread_id)
        if work is not None:
            work()

    def _plan(self, thread_id: str) -> Callable[[], None] | None:
        """What the thread needs now, as a step to run (None: nothing)."""
        record = self.registry.get(thread_id)
        if record is None:
            return None  # deleted meanwhile
        checkpoints = self.rows.checkpoints(record.thread_id)
        if not checkpoints and self.rows.newest_id(record.thread_id) is None:
            if record.status == "running" or \
                    self.now - max(record.created_at, record.updated_at) < ORPHAN_AGE_SECONDS:
                return None
            return lambda: self._orphan_registry_row(record)
        idle = self.policy.idle_days is not None and \
            self.now - record.updated_at > self.policy.idle_days * 86400
        if idle and record.status not in NEVER_DELETED and self.policy.strategy == "delete":
            return lambda: self._delete_thread(record)
        if not self.rows.can_trim:
            return None
        if idle and self.policy.strategy == "keep_latest":
            keep = 1
        elif self.policy.keep_checkpoints is not None:
            keep = self.policy.keep_checkpoints
        else:
            return None
        if len(checkpoints) <= keep:
            return None
        return lambda: self._trim(record.thread_id, checkpoints, keep,
                                  finish_latest=keep == 1 and idle)

    def _trim(self, thread_id: str, checkpoints: list, keep: int, *, finish_latest: bool) -> None:
        kept = {c.checkpoint_id for c in checkpoints[:keep]}  # the head is the newest
        oldest_kept = checkpoints[min(keep, len(checkpoints)) - 1].checkpoint_id
        sends_parent = self.rows.resume_parent(thread_id, oldest_kept)
        if sends_parent:
            kept.add(sends_parent)
        doomed = [c.checkpoint_id for c in checkpoints if c.checkpoint_id not in kept]
        if not doomed:
            return
        doomed_set = set(doomed)
        orphaned_children = [c.checkpoint_id for c in checkpoints
                             if c.checkpoint_id in kept and c.parent_id in doomed_set]
        deleted = self.rows.delete_checkpoints(thread_id, doomed, orphaned_children,
                                               dry_run=self.policy.dry_run)
        if finish_latest and not self.policy.dry_run:
            self.rows.finish_keep_latest(thread_id)
        self.report.count(deleted)
        self.report.threads_trimmed += 1

    def _delete_thread(self, record: ThreadRecord) -> None:
        if not self.policy.dry_run:
            # The registry row first, as a person's delete does: the thread vanishes from
            # every list at once, and a crash before its rows are gone leaves an orphan that
            # a later sweep removes.
            self.registry.delete(record.thread_id)
        self.report.count(self.rows.delete_thread(record.thread_id, dry_run=self.policy.dry_run))
        self.report.threads_deleted += 1

    # --- what crashes leave -------------------------------------------------------------------

    def _orphan_registry_row(self, record: ThreadRecord) -> None:
        """A registered thread that never got a checkpoint, long ago: its turn died first."""
        if not self.policy.dry_run:
            self.registry.delete(record.thread_id)
        self.report.orphan_registry_rows += 1

    def _orphan_checkpoints(self) -> None:
        """Checkpoints whose registry row is gone (a delete that died half-way)."""
        for thread_id in self._checkpoint_thread_ids():
            if self.stop.is_set():
                return
            # Only ids the app makes: another program's threads in a shared database
            # (LangGraph Server's are UUIDs) are none of this sweep's business.
            if not is_thread_id(thread_id) or self.registry.get(thread_id) is not None:
                continue
            self._under_lock(thread_id, lambda t=thread_id: self._remove_orphan(t))

    def _remove_orphan(self, thread_id: str) -> None:
        if self.registry.get(thread_id) is not None:
            return  # registered meanwhile
        newest = self.rows.newest_id(thread_id)
        written = checkpoint_time(newest) if newest else None
        if written is None or self.now - written < ORPHAN_AGE_SECONDS:
            return
        self.report.count(self.rows.delete_thread(thread_id, dry_run=self.policy.dry_run))
        self.report.orphan_checkpoint_threads += 1

    def _orphan_lock_files(self) -> None:
        """Lock files beside a SQLite file for threads that exist no more (only free ones)."""
        locks = self.backend.locks
        if not isinstance(locks, FileThreadLocks) or not locks.directory.is_dir():
            return
        for path in sorted(locks.directory.glob("*.lock")):
            thread_id = path.stem
            if not is_thread_id(thread_id) or self.registry.get(thread_id) is not None:
                continue
            with contextlib.suppress(FileNotFoundError):
                if self.now - path.stat().st_mtime < ORPHAN_AGE_SECONDS:
                    continue
            if self.rows.newest_id(thread_id) is not None:
                continue
            if _remove_if_free(path, dry_run=self.policy.dry_run):
                self.report.orphan_lock_files += 1

    # --- walking ------------------------------------------------------------------------------

    def _registered(self) -> Iterator[str]:
        """Every registered thread's id, a page at a time (rows come and go meanwhile)."""
        after = ""
        while True:
            rows = self.registry.db.fetch_all(
                "SELECT thread_id FROM support_threads WHERE thread_id > ?"
                " ORDER BY thread_id LIMIT ?", (after, PAGE))
            yield from (row["thread_id"] for row in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1]["thread_id"]

    def _checkpoint_thread_ids(self) -> Iterator[str]:
        after = ""
        while True:
            ids = self.rows.thread_ids(after, PAGE)
            yield from ids
            if len(ids) < PAGE:
                return
            after = ids[-1]


def _remove_if_free(path: Path, *, dry_run: bool) -> bool:
    """Unlink a lock file if nobody holds it (taken without waiting, removed while held)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not dry_run:
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own errors, without importing a driver nobody loaded."""
    import sqlite3
    import sys

    errors: list[type[BaseException]] = [sqlite3.Error]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


def describe_bytes(size: Any) -> str:
    """A byte count for people (None: not applicable)."""
    if size is None:
        return "n/a"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
