"""The app's own SQL connection (registry, shop data, ledger) for SQLite or PostgreSQL.

Queries are written once with `?` placeholders; the PostgreSQL side rewrites them to `%s`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from agent.errors import Unavailable

Dialect = Literal["sqlite", "postgres"]
Row = dict[str, Any]

# How long a writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class Session(Protocol):
    """Runs statements on one connection (inside a transaction when from `transaction()`)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the affected row count."""

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query; return every row as a dict."""

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a query; return the first row as a dict, or None."""


class Database(Session, Protocol):
    """A Session that can also open transactions and be closed."""

    dialect: Dialect

    def transaction(self) -> Iterator[Session]:
        """A context manager: a Session whose statements commit together or not at all."""

    def close(self) -> None:
        """Release the connection(s)."""


def connect_sqlite(path: str | Path, *, autocommit: bool) -> sqlite3.Connection:
    """Open a SQLite connection tuned for several processes sharing one file."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path),
        timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
        check_same_thread=False,  # guarded by a lock in every user of the connection
        isolation_level=None if autocommit else "",
    )
    conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    if str(path) != ":memory:":
        # WAL lets readers run beside one writer across processes; NORMAL sync is durable
        # against a killed process (only a power cut can lose the last commits).
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class _SqliteSession:
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(sql, tuple(params))
        names = [col[0] for col in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None


class SqliteDatabase:
    """One autocommit connection per process; writes use BEGIN IMMEDIATE to queue fairly."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._conn = connect_sqlite(path, autocommit=True)
        self._lock = threading.RLock()
        self._session = _SqliteSession(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._lock:
            # IMMEDIATE takes the write lock up front, so a read-then-write transaction
            # never fails half-way when another process wrote in between.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._session
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self._session.execute(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._session.fetch_all(sql, params)

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock:
            return self._session.fetch_one(sql, params)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _to_pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresSession:
    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(_to_pg(sql), tuple(params)).rowcount

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(_to_pg(sql), tuple(params)).fetchall())

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._conn.execute(_to_pg(sql), tuple(params)).fetchone()


class PostgresDatabase:
    """Statements on connections borrowed from the shared pool (dict rows, autocommit)."""

    dialect: Dialect = "postgres"

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with _pg_errors(), self.pool.connection() as conn, conn.transaction():
            yield _PostgresSession(conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _pg_errors(), self.pool.connection() as conn:
            return _PostgresSession(conn).execute(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _pg_errors(), self.pool.connection() as conn:
            return _PostgresSession(conn).fetch_all(sql, params)

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with _pg_errors(), self.pool.connection() as conn:
            return _PostgresSession(conn).fetch_one(sql, params)

    def close(self) -> None:
        """The pool is owned and closed by the Persistence bundle."""


@contextmanager
def _pg_errors() -> Iterator[None]:
    """Turn lost connections into a retryable, user-facing error."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # incl. PoolTimeout
        raise Unavailable(f"PostgreSQL is unreachable ({_first_line(exc)}); try again") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The user-facing error for a database failure, or None if `exc` is not one."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return Unavailable(f"PostgreSQL is unreachable ({_first_line(exc)}); try again")
    if isinstance(exc, sqlite3.OperationalError):
        return Unavailable(f"the SQLite database failed ({_first_line(exc)}); try again")
    return None
