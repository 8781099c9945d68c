"""PostgreSQL for the benchmarks: throwaway databases, server counters, a statement counter."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

PREFIX = "sa_bench_"
# Backends report their counters at most once a second, and an idle one may hold them for up to
# 10 s; a pause plus one query on every idle connection makes a window's counts land in it.
STATS_FLUSH_PAUSE_SECONDS = 1.1


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` pointing at database `name` instead."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """A new, empty database `sa_bench_<random>`, dropped afterwards; yields its URL."""
    name = PREFIX + secrets.token_hex(4)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class StatementCounter:
    """Counts psycopg Cursor.execute/executemany calls in this process (a bench-only patch).

    The class methods are wrapped for the duration of a `with` block and restored after; the
    bench's own monitoring queries run inside `paused()` and are not counted.
    """

    _active: StatementCounter | None = None
    _paused = threading.local()

    def __init__(self) -> None:
        self.statements = 0
        self.empty = 0  # the pool's health check sends an empty query on every borrow
        self._lock = threading.Lock()
        self._originals: dict[str, Any] = {}

    def __enter__(self) -> StatementCounter:
        cursor = psycopg.Cursor
        self._originals = {"execute": cursor.execute, "executemany": cursor.executemany}
        counter = self

        def execute(cur: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            counter._count(query)
            return counter._originals["execute"](cur, query, *args, **kwargs)

        def executemany(cur: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            counter._count(query)
            return counter._originals["executemany"](cur, query, *args, **kwargs)

        cursor.execute = execute  # type: ignore[method-assign]
        cursor.executemany = executemany  # type: ignore[method-assign]
        StatementCounter._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.Cursor.execute = self._originals["execute"]  # type: ignore[method-assign]
        psycopg.Cursor.executemany = self._originals["executemany"]  # type: ignore[method-assign]
        StatementCounter._active = None

    def _count(self, query: Any) -> None:
        if getattr(StatementCounter._paused, "on", False):
            return
        with self._lock:
            self.statements += 1
            if isinstance(query, str | bytes) and not query.strip():
                self.empty += 1

    def snapshot(self) -> tuple[int, int]:
        """(statements, empty health checks) so far."""
        with self._lock:
            return self.statements, self.empty

    @staticmethod
    @contextlib.contextmanager
    def paused() -> Iterator[None]:
        """The bench's own queries in this thread are not counted."""
        before = getattr(StatementCounter._paused, "on", False)
        StatementCounter._paused.on = True
        try:
            yield
        finally:
            StatementCounter._paused.on = before


@dataclass
class ServerCounters:
    """Cumulative server-side counters of one database, and its size."""

    transactions: int
    rows_read: int
    database_bytes: int

    def minus(self, other: ServerCounters) -> ServerCounters:
        """What happened between two readings (the size is this reading's)."""
        return ServerCounters(self.transactions - other.transactions,
                              self.rows_read - other.rows_read, self.database_bytes)


# A query that reads a catalog table: a backend whose last flush is over a second old reports
# its pending statistics when it finishes it. (A query touching no table, `SELECT 1` or the
# pool's empty health check, leaves transaction counts pending for up to 10 s.)
FLUSH_QUERY = "SELECT 1 FROM pg_catalog.pg_namespace LIMIT 1"
_READ = (
    "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database"
    "        WHERE datname = current_database()),"
    "       (SELECT COALESCE(SUM(COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)), 0)"
    "        FROM pg_stat_user_tables),"
    "       (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
    "        JOIN pg_namespace n ON n.oid = c.relnamespace"
    "        WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public')")


class ServerStats:
    """Reads pg_stat_database and pg_stat_user_tables (and the size) of one bench database.

    Backends report statistics lazily, so `read` first pauses a little over a second and has
    every given connection run FLUSH_QUERY; those transactions, and the two of the previous
    reading on this monitoring connection (they are reported by the time of the next), are
    subtracted by `window`.
    """

    OWN_TRANSACTIONS_PER_READ = 2  # pg_stat_clear_snapshot() and the reading itself

    def __init__(self, url: str):
        self.url = url
        with StatementCounter.paused():
            self.conn = psycopg.connect(url, autocommit=True)
        self.flush_transactions = 0

    def read(self, flushers: list[Any]) -> ServerCounters:
        """Counters as of now, after making every connection report its statistics."""
        time.sleep(STATS_FLUSH_PAUSE_SECONDS)
        with StatementCounter.paused():
            self.flush_transactions = sum(flush() for flush in flushers)
            self.conn.execute("SELECT pg_stat_clear_snapshot()")
            row = self.conn.execute(_READ).fetchone()
        return ServerCounters(int(row[0]), int(row[1]), int(row[2]))

    def window(self, before: ServerCounters, after: ServerCounters) -> ServerCounters:
        """What the workload did between two readings, the bench's own transactions taken out."""
        delta = after.minus(before)
        delta.transactions -= self.flush_transactions + self.OWN_TRANSACTIONS_PER_READ
        return delta

    def close(self) -> None:
        """Close the monitoring connection."""
        with StatementCounter.paused():
            self.conn.close()


def pool_flusher(pool: Any) -> Any:
    """A flush action for a psycopg pool: each idle connection runs FLUSH_QUERY once."""

    def flush() -> int:
        borrowed = []
        try:
            for _ in range(pool.get_stats().get("pool_available", 0)):
                borrowed.append(pool.getconn(timeout=1.0))
            for conn in borrowed:
                conn.execute(FLUSH_QUERY)
        finally:
            for conn in borrowed:
                pool.putconn(conn)
        return len(borrowed)

    return flush


def connection_flusher(conn: Any, lock: Any) -> Any:
    """A flush action for one connection shared under `lock` (the stock PostgresSaver's)."""

    def flush() -> int:
        with lock:
            conn.execute(FLUSH_QUERY)
        return 1

    return flush
