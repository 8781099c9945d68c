"""The checkpoint rows retention deletes, per saver kind: SQLite and PostgreSQL SQL, memory API.

Only the root namespace ('') is trimmed checkpoint by checkpoint (the app's graph has no
subgraphs); whole threads go with every namespace. Deletes run oldest first in bounded batches,
each in a short transaction of its own, so a live turn on another thread never waits long:
a batch is at most `batch` rows of one table. A crash between two batches leaves a thread
that is merely less trimmed (its head and every kept checkpoint intact), and the next sweep
goes on from there.

Not handled: LangGraph's DeltaChannel (a channel rebuilt from older checkpoints' writes), which
the app's state does not use; trimming such a thread would lose its value. LangGraph's own
`prune` (which PostgreSQL's keep_latest ends with) refuses those threads.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.types import TASKS

from agent.core.db import Database, Session
from agent.persistence.db import connect_sqlite

# How long a PostgreSQL batch waits for a row lock before giving up on the thread (the next
# sweep tries again): a sweep must never queue live turns behind itself.
LOCK_TIMEOUT = "2s"
# How long SQLite's write-back of the write-ahead log may hold new writers (turns) back.
WAL_CHECKPOINT_WAIT_MS = 200


@dataclass
class Deleted:
    """Rows a step deleted (or, in a dry run, would delete)."""

    checkpoints: int = 0
    writes: int = 0
    blobs: int = 0

    def __iadd__(self, other: Deleted) -> Deleted:
        self.checkpoints += other.checkpoints
        self.writes += other.writes
        self.blobs += other.blobs
        return self


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a thread's root namespace: its id and its parent's."""

    checkpoint_id: str
    parent_id: str | None


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """`items` in lists of at most `size`."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class CheckpointRows(ABC):
    """What retention reads and deletes in one saver kind's checkpoint storage."""

    # False where the saver's API cannot remove single checkpoints (the memory saver).
    can_trim = True

    def __init__(self, checkpointer: BaseCheckpointSaver, batch: int):
        self.checkpointer = checkpointer
        self.batch = batch

    @abstractmethod
    def thread_ids(self, after: str, limit: int) -> list[str]:
        """Up to `limit` ids of threads with checkpoints, in order, after `after`."""

    @abstractmethod
    def checkpoints(self, thread_id: str) -> list[Checkpoint]:
        """The thread's root-namespace checkpoints, newest first."""

    @abstractmethod
    def newest_id(self, thread_id: str) -> str | None:
        """The newest checkpoint id of the thread in any namespace (None: no checkpoint)."""

    def resume_parent(self, thread_id: str, checkpoint_id: str) -> str | None:
        """The parent a checkpoint reads its pending sends from (LangGraph < 4 format), if any."""
        return None

    @abstractmethod
    def delete_checkpoints(self, thread_id: str, doomed: Sequence[str],
                           orphaned_children: Sequence[str], *, dry_run: bool) -> Deleted:
        """Delete these root checkpoints with their writes (and blobs no kept one references).

        `orphaned_children` are kept checkpoints whose parent is among `doomed`: their parent
        pointer is cleared first, as LangGraph's own prune does, so no kept checkpoint ever
        points at a missing one (not even if the sweep dies half-way).
        """

    @abstractmethod
    def delete_thread(self, thread_id: str, *, dry_run: bool) -> Deleted:
        """Delete every checkpoint, write and blob of the thread."""

    def finish_keep_latest(self, thread_id: str) -> None:  # noqa: B027 - optional
        """After trimming to the latest checkpoint: the saver's own clean-up, where it has one."""

    def size_bytes(self) -> int | None:
        """How big the database is on disk (None when it is not on disk)."""
        return None

    def reclaim(self, *, full: bool) -> tuple[str, list[str]]:
        """Give freed space back where the database can; what was done, and notes."""
        return "none", []


class SqlRows(CheckpointRows):
    """Shared SQL for LangGraph's SQLite and PostgreSQL tables (the app's `?` placeholders)."""

    writes_table: str

    def __init__(self, checkpointer: BaseCheckpointSaver, db: Database, batch: int):
        super().__init__(checkpointer, batch)
        self.db = db

    @contextmanager
    def batch_transaction(self) -> Iterator[Session]:
        """One short transaction for one batch."""
        with self.db.transaction() as session:
            yield session

    @abstractmethod
    def _in(self, column: str) -> str:
        """SQL testing `column` against a list passed as one parameter."""

    @abstractmethod
    def _list(self, values: Sequence[str]) -> object:
        """The parameter `_in` expects."""

    @abstractmethod
    def _limited(self, table: str, where: str) -> str:
        """A DELETE of at most `?` rows of `table` matching `where`."""

    def thread_ids(self, after: str, limit: int) -> list[str]:
        rows = self.db.fetch_all(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id > ?"
            " ORDER BY thread_id LIMIT ?", (after, limit))
        return [row["thread_id"] for row in rows]

    def checkpoints(self, thread_id: str) -> list[Checkpoint]:
        rows = self.db.fetch_all(
            "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints"
            " WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC",
            (thread_id,))
        return [Checkpoint(row["checkpoint_id"], row["parent_checkpoint_id"]) for row in rows]

    def newest_id(self, thread_id: str) -> str | None:
        row = self.db.fetch_one("SELECT MAX(checkpoint_id) AS newest FROM checkpoints"
                                " WHERE thread_id = ?", (thread_id,))
        return row["newest"] if row else None

    def delete_checkpoints(self, thread_id: str, doomed: Sequence[str],
                           orphaned_children: Sequence[str], *, dry_run: bool) -> Deleted:
        doomed = sorted(doomed)  # oldest first: an interrupted sweep leaves the newest
        if dry_run:
            return Deleted(len(doomed), self._count_writes(thread_id, doomed),
                           self._unreferenced_blobs(thread_id, set(doomed), count_only=True))
        deleted = Deleted()
        if orphaned_children:
            with self.batch_transaction() as session:
                session.execute(
                    "UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ?"
                    f" AND checkpoint_ns = '' AND {self._in('checkpoint_id')}",
                    (thread_id, self._list(orphaned_children)))
        for chunk in chunks(doomed, self.batch):
            # Writes first (they go by the checkpoints deleted, as in LangGraph's prune): a
            # crash in between leaves old checkpoints without writes, never writes without
            # a checkpoint that nobody would find again.
            where = f"thread_id = ? AND checkpoint_ns = '' AND {self._in('checkpoint_id')}"
            deleted.writes += self._delete_limited(self.writes_table, where,
                                                   (thread_id, self._list(chunk)))
            with self.batch_transaction() as session:
                deleted.checkpoints += session.execute(
                    f"DELETE FROM checkpoints WHERE {where}", (thread_id, self._list(chunk)))
        deleted.blobs = self._unreferenced_blobs(thread_id, set(), count_only=False)
        return deleted

    def delete_thread(self, thread_id: str, *, dry_run: bool) -> Deleted:
        if dry_run:
            return Deleted(self._count("checkpoints", thread_id),
                           self._count(self.writes_table, thread_id),
                           self._count_blobs(thread_id))
        deleted = Deleted()
        deleted.writes = self._delete_limited(self.writes_table, "thread_id = ?", (thread_id,))
        deleted.blobs = self._delete_thread_blobs(thread_id)
        deleted.checkpoints = self._delete_limited("checkpoints", "thread_id = ?", (thread_id,))
        # LangGraph's own call last: nothing is left for it, unless a turn wrote meanwhile.
        self.checkpointer.delete_thread(thread_id)
        return deleted

    def _delete_limited(self, table: str, where: str, params: tuple) -> int:
        """Delete matching rows `batch` at a time, one transaction per batch."""
        total = 0
        while True:
            with self.batch_transaction() as session:
                count = session.execute(self._limited(table, where), (*params, self.batch))
            total += count
            if count < self.batch:
                return total

    def _count(self, table: str, thread_id: str) -> int:
        row = self.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table} WHERE thread_id = ?",
                                (thread_id,))
        return int(row["n"]) if row else 0

    def _count_writes(self, thread_id: str, ids: Sequence[str]) -> int:
        total = 0
        for chunk in chunks(ids, self.batch):
            row = self.db.fetch_one(
                f"SELECT COUNT(*) AS n FROM {self.writes_table} WHERE thread_id = ?"
                f" AND checkpoint_ns = '' AND {self._in('checkpoint_id')}",
                (thread_id, self._list(chunk)))
            total += int(row["n"]) if row else 0
        return total

    def _count_blobs(self, thread_id: str) -> int:
        return 0

    def _delete_thread_blobs(self, thread_id: str) -> int:
        return 0

    def _unreferenced_blobs(self, thread_id: str, doomed: set[str], *, count_only: bool) -> int:
        """Blobs no remaining checkpoint references (PostgreSQL; SQLite keeps values inline)."""
        return 0


class SqliteRows(SqlRows):
    """LangGraph's SQLite tables: one row per checkpoint holding its values, and `writes`."""

    writes_table = "writes"

    def __init__(self, checkpointer: BaseCheckpointSaver, db: Database, batch: int,
                 path: Path):
        super().__init__(checkpointer, db, batch)
        self.path = path

    def _in(self, column: str) -> str:
        # One JSON parameter instead of one placeholder per id: no limit on how many.
        return f"{column} IN (SELECT value FROM json_each(?))"

    def _list(self, values: Sequence[str]) -> object:
        return json.dumps(list(values))

    def _limited(self, table: str, where: str) -> str:
        return f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where}" \
               " LIMIT ?)"

    def size_bytes(self) -> int | None:
        return sum(os.path.getsize(file) for file in (self.path, Path(f"{self.path}-wal"))
                   if file.exists())

    def reclaim(self, *, full: bool) -> tuple[str, list[str]]:
        # A connection of its own: VACUUM and the pragmas below cannot run inside the app
        # connection's transactions, and connect_sqlite asks for incremental auto-vacuum, so
        # a full VACUUM also switches an older file to it.
        conn = connect_sqlite(self.path, autocommit=True)
        try:
            mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
            if full:
                conn.execute("VACUUM")
                done = "full VACUUM (the file was rewritten; from now on it gives space back " \
                       "by itself)"
            elif mode == 2:  # INCREMENTAL
                # executescript steps the pragma to the end; execute() frees one page a step.
                conn.executescript("PRAGMA incremental_vacuum;")
                done = "incremental vacuum"
            else:
                return "none", ["this SQLite file predates incremental auto-vacuum, so freed "
                                "pages are reused but the file does not shrink: run "
                                "`support-agent gc --vacuum` once (a full VACUUM, which "
                                "rewrites the file and needs as much free disk space)"]
            # The main file shrinks once the write-ahead log is written back into it. A
            # TRUNCATE checkpoint holds new writers back while it waits for readers, so it
            # waits briefly: if turns are busy, the next sweep (or SQLite itself) finishes it.
            conn.execute(f"PRAGMA busy_timeout = {WAL_CHECKPOINT_WAIT_MS}")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            return done, ["the write-ahead log was busy, so the file shrinks a little later"
                          ] if busy else []
        finally:
            conn.close()


class PostgresRows(SqlRows):
    """LangGraph's PostgreSQL tables: checkpoints, their channel blobs, and their writes."""

    writes_table = "checkpoint_writes"

    @contextmanager
    def batch_transaction(self) -> Iterator[Session]:
        with self.db.transaction() as session:
            session.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            yield session

    def _in(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def _list(self, values: Sequence[str]) -> object:
        return list(values)

    def _limited(self, table: str, where: str) -> str:
        return f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table}" \
               f" WHERE {where} LIMIT ?))"

    def resume_parent(self, thread_id: str, checkpoint_id: str) -> str | None:
        # As PostgresSaver.prune's `sends_parent`: a checkpoint written before LangGraph's
        # format 4 finds its pending sends among its parent's writes.
        row = self.db.fetch_one(
            "SELECT parent_checkpoint_id AS parent, (checkpoint ->> 'v')::int AS v"
            " FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id = ?",
            (thread_id, checkpoint_id))
        if not row or not row["parent"] or (row["v"] or 0) >= 4:
            return None
        sends = self.db.fetch_one(
            "SELECT 1 AS found FROM checkpoint_writes WHERE thread_id = ? AND checkpoint_ns = ''"
            " AND checkpoint_id = ? AND channel = ? LIMIT 1",
            (thread_id, row["parent"], TASKS))
        return row["parent"] if sends else None

    def finish_keep_latest(self, thread_id: str) -> None:
        # LangGraph's own prune, after the batches: little is left for its one transaction,
        # and it also clears what only it knows about (subgraph namespaces, DeltaChannels).
        self.checkpointer.prune([thread_id], strategy="keep_latest")

    def _count_blobs(self, thread_id: str) -> int:
        return self._count("checkpoint_blobs", thread_id)

    def _delete_thread_blobs(self, thread_id: str) -> int:
        return self._delete_limited("checkpoint_blobs", "thread_id = ?", (thread_id,))

    def _unreferenced_blobs(self, thread_id: str, doomed: set[str], *, count_only: bool) -> int:
        # In Python rather than one anti-join: a thread's rows are looked up by primary key,
        # and the plan cannot go quadratic on the few huge threads worth trimming.
        versions = self.db.fetch_all(
            "SELECT c.checkpoint_id, v.key AS channel, v.value AS version FROM checkpoints c"
            " CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') AS v"
            " WHERE c.thread_id = ? AND c.checkpoint_ns = ''", (thread_id,))
        referenced = {(r["channel"], r["version"]) for r in versions
                      if r["checkpoint_id"] not in doomed}
        stored = self.db.fetch_all("SELECT channel, version FROM checkpoint_blobs"
                                   " WHERE thread_id = ? AND checkpoint_ns = ''", (thread_id,))
        garbage: dict[str, list[str]] = {}
        for row in stored:
            if (row["channel"], row["version"]) not in referenced:
                garbage.setdefault(row["channel"], []).append(row["version"])
        if count_only:
            return sum(len(versions) for versions in garbage.values())
        deleted = 0
        for channel, unreferenced in garbage.items():
            for chunk in chunks(unreferenced, self.batch):
                with self.batch_transaction() as session:
                    deleted += session.execute(
                        "DELETE FROM checkpoint_blobs WHERE thread_id = ? AND checkpoint_ns = ''"
                        " AND channel = ? AND version = ANY(?)", (thread_id, channel, chunk))
        return deleted

    def size_bytes(self) -> int | None:
        row = self.db.fetch_one("SELECT pg_database_size(current_database()) AS size")
        return int(row["size"]) if row else None

    def reclaim(self, *, full: bool) -> tuple[str, list[str]]:
        # Plain VACUUM after every sweep (never FULL, which would lock the tables against live
        # turns): it takes no lock that writes wait for, and it makes the deleted rows' space
        # reusable now rather than whenever autovacuum next comes by, so the database stays at
        # its size instead of growing by what was deleted in between. The registry too: every
        # turn writes its thread's row twice (running, then the outcome), and each version
        # enters all its indexes (the page keys change), which outgrew everything else kept
        # when turns came faster than autovacuum's rounds.
        analyze = " (ANALYZE)" if full else ""
        self.db.execute(f"VACUUM{analyze} checkpoints, checkpoint_blobs, checkpoint_writes,"
                        " support_threads")
        return f"VACUUM{analyze} of the checkpoint tables and the thread registry", [
            "PostgreSQL: VACUUM makes the space reusable and returns only empty pages at the "
            "end of a table; VACUUM FULL (locks the tables) or pg_repack shrinks them"]


class MemoryRows(CheckpointRows):
    """LangGraph's InMemorySaver, through its public API: whole threads only."""

    can_trim = False

    def thread_ids(self, after: str, limit: int) -> list[str]:
        ids = {saved.config["configurable"]["thread_id"] for saved in self.checkpointer.list(None)}
        return sorted(i for i in ids if i > after)[:limit]

    def checkpoints(self, thread_id: str) -> list[Checkpoint]:
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        found = []
        for saved in self.checkpointer.list(config):
            if saved.config["configurable"].get("checkpoint_ns", "") != "":
                continue
            parent = (saved.parent_config or {}).get("configurable", {}).get("checkpoint_id")
            found.append(Checkpoint(saved.config["configurable"]["checkpoint_id"], parent))
        return sorted(found, key=lambda c: c.checkpoint_id, reverse=True)

    def newest_id(self, thread_id: str) -> str | None:
        found = self.checkpoints(thread_id)
        return found[0].checkpoint_id if found else None

    def delete_checkpoints(self, thread_id: str, doomed: Sequence[str],
                           orphaned_children: Sequence[str], *, dry_run: bool) -> Deleted:
        raise NotImplementedError("the memory saver deletes whole threads only")

    def delete_thread(self, thread_id: str, *, dry_run: bool) -> Deleted:
        deleted = Deleted(checkpoints=len(self.checkpoints(thread_id)))
        if not dry_run:
            self.checkpointer.delete_thread(thread_id)
        return deleted
