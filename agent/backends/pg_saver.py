"""LangGraph's PostgresSaver, reading a checkpoint's blobs by key.

The stock read joins a checkpoint's channel versions to the `checkpoint_blobs` rows of its
thread. PostgreSQL plans that join from its estimate of one thread's blob count, which for a
young, fast-growing table (or any thread longer than the average) is far too low: it reads
the thread's every blob and filters, so each step read more rows the longer the thread got
(95 blob rows per read after 60 turns, growing without bound), unless someone ran ANALYZE.

This reads the same rows one primary-key lookup per channel (`LATERAL ... LIMIT 1`, the way
LangGraph's own `prune` avoids per-thread estimates), whatever the statistics say. Only the
read query differs; writes, schema, migrations and every other behaviour are LangGraph's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import WRITES_IDX_MAP, CheckpointTuple
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import Cursor
from psycopg.rows import DictRow

# The columns and shapes of LangGraph's SELECT_SQL; only the blobs subquery is keyed.
KEYED_SELECT_SQL = """
select
    thread_id,
    checkpoint,
    checkpoint_ns,
    checkpoint_id,
    parent_checkpoint_id,
    metadata,
    (
        select array_agg(array[bl.channel::bytea, bl.type::bytea, bl.blob])
        from jsonb_each_text(checkpoint -> 'channel_versions') as version
        cross join lateral (
            select b.channel, b.type, b.blob
            from checkpoint_blobs b
            where b.thread_id = checkpoints.thread_id
                and b.checkpoint_ns = checkpoints.checkpoint_ns
                and b.channel = version.key
                and b.version = version.value
            limit 1
        ) as bl
    ) as channel_values,
    (
        select array_agg(array[cw.task_id::text::bytea, cw.channel::bytea, cw.type::bytea,
                               cw.blob, convert_to(cw.task_path, 'UTF8'), cw.idx::text::bytea])
        from checkpoint_writes cw
        where cw.thread_id = checkpoints.thread_id
            and cw.checkpoint_ns = checkpoints.checkpoint_ns
            and cw.checkpoint_id = checkpoints.checkpoint_id
    ) as pending_writes
from checkpoints """


class KeyedPostgresSaver(PostgresSaver):
    """PostgresSaver whose reads look a checkpoint's blobs up by key (see the module)."""

    SELECT_SQL = KEYED_SELECT_SQL


class TurnSessionSaver(KeyedPostgresSaver):
    """The saver of one turn, on the connection whose session holds the thread's lock.

    Two round trips a step are folded into one, without giving up `durability="sync"`:

    - A task's ordinary writes are sent with the next checkpoint, in its transaction, instead
      of in one of their own. LangGraph writes a step's checkpoint only after all its tasks
      are done, so nothing that checkpoint needs is ever missing from it; a crash before it
      loses what a crash inside the task would (the task runs again on resume, and side
      effects are made once by their own keys). Interrupts, errors and resume values (the
      special channels) are written at once, as LangGraph does.
    - The turn's own statements (its thread marked running) can ride along too
      (`send_with_next_write`).
    - The head read that plans a turn is handed once more to LangGraph's own read at the
      start of the run, if nothing was written in between: the lock keeps other writers out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[Callable[[Cursor[DictRow]], object]] = []
        self._unsent_lock = threading.Lock()
        # The last read and how many writes had started before it: a read is handed on only
        # while no write has started since (one racing it included).
        self._last_read: tuple[tuple[Any, ...], CheckpointTuple | None] | None = None
        self._writes_started = 0

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                   task_id: str, task_path: str = "") -> None:
        """Keep a task's ordinary writes for the next checkpoint's transaction."""
        self._writes_started += 1
        if any(channel in WRITES_IDX_MAP for channel, _ in writes):
            super().put_writes(config, writes, task_id, task_path)
            return
        configurable = config["configurable"]
        rows = self._dump_writes(configurable["thread_id"], configurable["checkpoint_ns"],
                                 configurable["checkpoint_id"], task_id, task_path, writes)
        self.send_with_next_write(
            lambda cur: cur.executemany(self.INSERT_CHECKPOINT_WRITES_SQL, rows))

    def send_with_next_write(self, statement: Callable[[Cursor[DictRow]], object]) -> None:
        """Run `statement` in the transaction of this saver's next write (or `flush`)."""
        with self._unsent_lock:
            self._unsent.append(statement)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """LangGraph's read, answered once more from the last one if nothing was written."""
        configurable = config["configurable"]
        key = (configurable["thread_id"], configurable.get("checkpoint_ns", ""),
               configurable.get("checkpoint_id"), self._writes_started)
        last, self._last_read = self._last_read, None
        if last is not None and last[0] == key:
            return last[1]
        found = super().get_tuple(config)
        self._last_read = (key, found)
        return found

    def flush(self) -> None:
        """Send the writes kept for a checkpoint that will not come (the run has ended)."""
        if self._unsent:
            with self._cursor(pipeline=True):
                pass

    @contextlib.contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Cursor[DictRow]]:
        # Every statement after kept writes goes in one pipeline with them: one transaction.
        with super()._cursor(pipeline=pipeline or bool(self._unsent)) as cur:
            if pipeline:
                self._writes_started += 1
            with self._unsent_lock:
                unsent, self._unsent = self._unsent, []
            for statement in unsent:
                statement(cur)
            yield cur
