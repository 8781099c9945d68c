"""Open the checkpointer, the store and the app database that match the configured saver."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.store.postgres import PostgresStore
from langgraph.store.sqlite import SqliteStore
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from agent.core.db import Database, Session
from agent.domain.seed import seed_demo_shop
from agent.errors import ConfigError, Unavailable
from agent.persistence.db import (
    PostgresDatabase,
    SqliteDatabase,
    connect_sqlite,
    sqlite_problem,
)
from agent.persistence.locks import (
    FileThreadLocks,
    MemoryThreadLocks,
    PostgresThreadLocks,
    RedisThreadLocks,
    ThreadLocks,
)
from agent.persistence.migrations import MIGRATION_LOCK_KEY, migrate
from agent.persistence.serde import RestrictedSerializer
from agent.settings import Settings

POOL_CONNECT_TIMEOUT_SECONDS = 10.0
# How long a request waits for a pooled connection before reporting the database unavailable,
# and how long one reconnection attempt chain may run (short, so recovery after an outage is
# quick: the next request starts a fresh attempt).
POOL_WAIT_SECONDS = 10.0
POOL_RECONNECT_SECONDS = 10.0


@dataclass
class Persistence:
    """Everything on disk for one saver kind: checkpoints, long-term store, app tables."""

    kind: str
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    db: Database
    pool: ConnectionPool | None = None
    locks: ThreadLocks | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close connections in reverse order of opening."""
        while self._closers:
            self._closers.pop()()


def open_persistence(settings: Settings) -> Persistence:
    """Open (and migrate) the persistence layer chosen by `settings.saver`, with its locks."""
    if settings.saver == "memory":
        persistence = _open_memory(settings)
    elif settings.saver == "sqlite":
        persistence = _open_sqlite(settings)
    elif settings.saver == "postgres":
        persistence = _open_postgres(settings)
    else:
        raise ConfigError(f"unknown saver {settings.saver!r}; use memory, sqlite or postgres")
    try:
        persistence.locks = _open_locks(settings, persistence)
    except BaseException:
        persistence.close()
        raise
    persistence._closers.append(persistence.locks.close)
    return persistence


def _open_locks(settings: Settings, persistence: Persistence) -> ThreadLocks:
    """Redis when configured (shared by every instance); otherwise native to the database."""
    if settings.redis_url:
        return RedisThreadLocks(settings.redis_url, settings.redis_key_prefix,
                                settings.lock_ttl_seconds)
    if persistence.kind == "postgres":
        lock_pool = _connection_pool(settings, "support-agent-locks", min_size=0)
        persistence._closers.append(lock_pool.close)
        lock_pool.open(wait=False)
        return PostgresThreadLocks(lock_pool)
    if persistence.kind == "sqlite":
        path = settings.sqlite_path
        return FileThreadLocks(path.with_name(path.name + ".locks"))
    return MemoryThreadLocks()


def _first_start(settings: Settings) -> Callable[[Session], object] | None:
    """What a brand-new database gets with its tables: the demo shop, when configured."""
    return seed_demo_shop if settings.seeds_demo_data else None


def _open_memory(settings: Settings) -> Persistence:
    # The shop data and the registry live in a private in-memory SQLite database, so the
    # memory saver runs the very same SQL as the file-backed one and loses it all on exit.
    db = SqliteDatabase(":memory:")
    migrate(db, on_create=_first_start(settings))
    persistence = Persistence("memory", InMemorySaver(serde=RestrictedSerializer()),
                              InMemoryStore(), db)
    persistence._closers.append(db.close)
    return persistence


def _open_sqlite(settings: Settings) -> Persistence:
    path = settings.sqlite_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder for SQLite file {path} "
                          f"(SUPPORT_SQLITE_PATH): {exc.strerror}") from None
    persistence = Persistence("sqlite", None, None, None)  # type: ignore[arg-type]
    try:
        # LangGraph's setup() steps are not safe to race, and switching a new file to WAL
        # needs it to itself: processes opening the same file set it up one at a time.
        with _exclusive_file_lock(path.with_name(path.name + ".lock")):
            _refuse_empty_file(path)
            db = SqliteDatabase(path)
            persistence.db = db
            persistence._closers.append(db.close)
            db.check_writable()
            migrate(db, on_create=_first_start(settings))
            saver_conn = connect_sqlite(path, autocommit=False)
            persistence._closers.append(saver_conn.close)
            checkpointer = SqliteSaver(saver_conn, serde=RestrictedSerializer())
            checkpointer.setup()
            store_conn = connect_sqlite(path, autocommit=True)  # SqliteStore issues BEGIN itself
            persistence._closers.append(store_conn.close)
            store = SqliteStore(store_conn)
            store.setup()
    except sqlite3.Error as exc:
        persistence.close()
        problem = sqlite_problem(exc, path)
        if problem is None:  # a bug (bad SQL, a missing table), not the user's to fix
            raise
        raise problem from exc
    except BaseException:
        persistence.close()
        raise
    persistence.checkpointer, persistence.store = checkpointer, store
    return persistence


def _refuse_empty_file(path: Path) -> None:
    """Refuse a 0-byte file: the app never leaves one, so it is not a database it created.

    A missing file is a first start and is created (and seeded); an empty one may be a
    truncated database or a placeholder somebody made, and silently filling it with a fresh
    (demo) shop would hide that. Deleting it is the explicit way to start anew.
    """
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError:
        return
    if empty:
        raise ConfigError(f"the SQLite file {path} is empty (0 bytes), so it is not a database "
                          "this app created; delete it to start a new database there, or set "
                          "SUPPORT_SQLITE_PATH to the app's database file")


@contextmanager
def _exclusive_file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an OS-level exclusive lock on `lock_path` (released if the process dies)."""
    try:
        handle = open(lock_path, "a+b")  # noqa: SIM115 - closed by the `with` just below
    except OSError as exc:
        raise ConfigError(f"cannot create {lock_path} ({exc.strerror}): the folder "
                          f"{lock_path.parent} is not writable by this user; fix its "
                          "permissions or set SUPPORT_SQLITE_PATH to another place") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_postgres(settings: Settings) -> Persistence:
    _probe_postgres(settings)
    pool = _connection_pool(settings, "support-agent", min_size=1)
    try:
        pool.open(wait=True, timeout=POOL_CONNECT_TIMEOUT_SECONDS)
    except Exception as exc:
        pool.close()
        raise Unavailable(
            f"cannot connect to PostgreSQL at {settings.describe()['database']} "
            f"(SUPPORT_POSTGRES_URL): {_reason(exc)}"
        ) from None
    persistence = Persistence("postgres", None, None, PostgresDatabase(pool), pool)  # type: ignore[arg-type]
    persistence._closers.append(pool.close)
    try:
        checkpointer = PostgresSaver(pool, serde=RestrictedSerializer())
        store = PostgresStore(pool)
        # LangGraph's setup() migrations are not safe to race; serialise them across processes.
        with pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            try:
                checkpointer.setup()
                store.setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        migrate(persistence.db, on_create=_first_start(settings))
    except psycopg.Error as exc:
        persistence.close()
        raise Unavailable(f"PostgreSQL setup failed: {_reason(exc)}") from exc
    except BaseException:
        persistence.close()
        raise
    persistence.checkpointer, persistence.store = checkpointer, store
    return persistence


def _connection_pool(settings: Settings, name: str, *, min_size: int) -> ConnectionPool:
    """A pool as PostgresSaver needs it (autocommit, no server-side prepares, dict rows)."""
    return ConnectionPool(
        settings.postgres_url,
        min_size=min_size,
        max_size=max(settings.postgres_pool_size, 2),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # Health check on borrow: a connection broken by a server restart is replaced.
        check=ConnectionPool.check_connection,
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=POOL_RECONNECT_SECONDS,
        open=False,
        name=name,
    )


def _probe_postgres(settings: Settings) -> None:
    """Connect once directly, so a wrong URL or a stopped server gets the server's own words."""
    try:
        with psycopg.connect(settings.postgres_url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        raise Unavailable(
            f"cannot connect to PostgreSQL at {settings.describe()['database']} "
            f"(SUPPORT_POSTGRES_URL): {_reason(exc)}"
        ) from None


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0]
