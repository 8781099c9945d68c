"""The SQLite backend: one file holds checkpoints, store, registry and shop; locks beside it."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.sqlite import SqliteStore

from agent.backends.base import Backend, backend_kind, first_start, redis_locks
from agent.backends.blobs import open_blob_store
from agent.errors import ConfigError
from agent.persistence.db import SqliteDatabase, connect_sqlite, sqlite_problem
from agent.persistence.encryption import sealed_store
from agent.persistence.locks import FileThreadLocks
from agent.persistence.migrations import migrate
from agent.persistence.serde import checkpoint_serializer
from agent.settings import Settings


@backend_kind("sqlite")
def open_sqlite(settings: Settings) -> Backend:
    """Open the SQLite backend on `settings.sqlite_path`."""
    path = settings.sqlite_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder for SQLite file {path} "
                          f"(SUPPORT_SQLITE_PATH): {exc.strerror}") from None
    try:
        return _open(settings, path)
    except sqlite3.Error as exc:
        problem = sqlite_problem(exc, path)
        if problem is None:  # a bug (bad SQL, a missing table), not the user's to fix
            raise
        raise problem from exc


def _open(settings: Settings, path: Path) -> Backend:
    with ExitStack() as stack:
        # LangGraph's setup() steps are not safe to race, and switching a new file to WAL
        # needs it to itself: processes opening the same file set it up one at a time.
        with _exclusive_file_lock(path.with_name(path.name + ".lock")):
            _refuse_empty_file(path)
            db = SqliteDatabase(path)
            stack.callback(db.close)
            db.check_writable()
            migrate(db, on_create=first_start(settings))
            saver_conn = connect_sqlite(path, autocommit=False)
            stack.callback(saver_conn.close)
            checkpointer = SqliteSaver(saver_conn, serde=checkpoint_serializer(settings))
            checkpointer.setup()
            store_conn = connect_sqlite(path, autocommit=True)  # SqliteStore issues BEGIN itself
            stack.callback(store_conn.close)
            store = sealed_store(SqliteStore(store_conn), settings)
            store.setup()
        locks = redis_locks(settings) or FileThreadLocks(path.with_name(path.name + ".locks"))
        stack.callback(locks.close)
        blobs = open_blob_store(settings, db)
        stack.callback(blobs.close)
        return Backend("sqlite", checkpointer, store, db, locks, stack.pop_all(), blobs=blobs)


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
