"""The app's own SQL connection (registry, shop data, ledger) for SQLite or PostgreSQL.

Queries are written once with `?` placeholders; the PostgreSQL side rewrites them to `%s`.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.db import Dialect, Row, Session
from agent.errors import ConfigError, SupportError, Unavailable

if TYPE_CHECKING:  # the driver is loaded by whoever opens PostgreSQL, never by importing this
    import psycopg
    from psycopg_pool import ConnectionPool

# How long a writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


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
        # A new file gives deleted pages back (retention's `PRAGMA incremental_vacuum`). It only
        # takes on a file without tables, and before WAL is set; on an older file it is what a
        # full VACUUM (`support-agent gc --vacuum`) switches it to.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
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
        with _sqlite_errors(self.path):
            self._conn = connect_sqlite(path, autocommit=True)
        self._lock = threading.RLock()
        self._session = _SqliteSession(self._conn)

    def check_writable(self) -> None:
        """Raise ConfigError now if the file is read-only, rather than on the first write."""
        # SQLite silently opens a file it may not write read-only; only a write tells.
        with self._lock, _sqlite_errors(self.path):
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(f"PRAGMA user_version = {int(version)}")
            finally:
                self._conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._lock, _sqlite_errors(self.path):
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
        with self._lock, _sqlite_errors(self.path):
            return self._session.execute(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock, _sqlite_errors(self.path):
            return self._session.fetch_all(sql, params)

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock, _sqlite_errors(self.path):
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


class PostgresSessionDatabase:
    """Statements on one given connection: a turn's lock session, so they can share its
    transactions (see `PostgresThreadLocks._release_saying`)."""

    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with _pg_errors(), self._conn.transaction():
            yield _PostgresSession(self._conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _pg_errors():
            return _PostgresSession(self._conn).execute(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _pg_errors():
            return _PostgresSession(self._conn).fetch_all(sql, params)

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with _pg_errors():
            return _PostgresSession(self._conn).fetch_one(sql, params)

    def close(self) -> None:
        """The connection belongs to the lock that lent it."""


@contextmanager
def _pg_errors() -> Iterator[None]:
    """Turn lost connections into a retryable, user-facing error."""
    import psycopg  # already loaded: a pool exists

    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # incl. PoolTimeout
        raise Unavailable(f"PostgreSQL is unreachable ({_first_line(exc)}); try again") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def as_unavailable(exc: BaseException) -> SupportError | None:
    """The user-facing error for a database failure, or None if `exc` is not one.

    Mostly Unavailable (retrying may help); a SQLite file that cannot be used as it is
    (read-only, damaged, not a database) gives ConfigError. SQL errors ("no such table")
    are bugs and give None.
    """
    if isinstance(exc, Unavailable):
        return exc
    # Only a process that loaded the driver can hold one of its errors.
    psycopg = sys.modules.get("psycopg")
    if psycopg and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return Unavailable(f"PostgreSQL is unreachable ({_first_line(exc)}); try again")
    if isinstance(exc, sqlite3.Error):
        return sqlite_problem(exc, None)
    return None


# SQLite's primary result codes (https://sqlite.org/rescode.html) for what a user can fix.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = \
    10, 11, 13, 14, 26


def sqlite_problem(exc: sqlite3.Error, path: str | Path | None) -> SupportError | None:
    """What a SQLite failure on `path` means for the user, or None if it is a bug."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    file = f"the SQLite file {path}" if path else "the SQLite database"
    detail = _first_line(exc)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return Unavailable(f"{file} is busy ({detail}); try again")
    if code == _SQLITE_FULL:
        return Unavailable(f"the disk holding {file} is full; free some space, then try again")
    if code == _SQLITE_IOERR:
        return Unavailable(f"{file} could not be read or written ({detail}); check the disk, "
                           "then try again")
    if code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
        folder = Path(path).parent if path and str(path) != ":memory:" else None
        if folder is not None and folder.is_dir() and not _writable(folder):
            return ConfigError(f"{file} cannot be used: its folder {folder} is not writable "
                               "by this user (SQLite keeps its journal files beside the "
                               "database); fix the folder's permissions or set "
                               "SUPPORT_SQLITE_PATH to another place")
        if code == _SQLITE_CANTOPEN:
            return ConfigError(f"cannot open {file} ({detail}); check that this user may read "
                               "and write it and its folder (SUPPORT_SQLITE_PATH)")
        return ConfigError(f"{file} is read-only for this user ({detail}); make it writable "
                           "or set SUPPORT_SQLITE_PATH to another file")
    if code == _SQLITE_NOTADB:
        return ConfigError(f"{file} is not a SQLite database ({detail}); set "
                           "SUPPORT_SQLITE_PATH to the app's database file, or move this file "
                           "away to start a new one")
    if code == _SQLITE_CORRUPT:
        return ConfigError(f"{file} is damaged ({detail}); restore it from a backup, or move "
                           "it away to start a new database (SUPPORT_SQLITE_PATH)")
    return None


def _writable(folder: Path) -> bool:
    """Whether this process may create files in `folder` (root included: immutable folders)."""
    return os.access(folder, os.W_OK | os.X_OK)


@contextmanager
def _sqlite_errors(path: str) -> Iterator[None]:
    """Turn a SQLite failure a user can act on into the matching SupportError."""
    try:
        yield
    except sqlite3.Error as exc:
        problem = sqlite_problem(exc, path)
        if problem is None:
            raise
        raise problem from exc
