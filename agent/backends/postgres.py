"""The PostgreSQL backend: a connection pool shared by checkpointer, store and app tables."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
from langgraph.store.postgres import PostgresStore

from agent.backends.base import Backend, backend_kind, first_start, redis_locks
from agent.backends.blobs import open_blob_store
from agent.backends.pg_pool import connection_pool
from agent.backends.pg_saver import KeyedPostgresSaver, TurnSessionSaver
from agent.errors import Unavailable
from agent.persistence.db import PostgresDatabase, PostgresSessionDatabase
from agent.persistence.encryption import sealed_store
from agent.persistence.locks import PostgresThreadLocks, ThreadLocks
from agent.persistence.migrations import MIGRATION_LOCK_KEY, migrate
from agent.persistence.postgres_saver import postgres_saver_class
from agent.persistence.serde import checkpoint_serializer
from agent.settings import Settings

POOL_CONNECT_TIMEOUT_SECONDS = 10.0


@backend_kind("postgres")
def open_postgres(settings: Settings) -> Backend:
    """Open the PostgreSQL backend on `settings.postgres_url`."""
    _probe_postgres(settings)
    with ExitStack() as stack:
        pool = connection_pool(settings, "support-agent", min_size=1)
        stack.callback(pool.close)
        try:
            pool.open(wait=True, timeout=POOL_CONNECT_TIMEOUT_SECONDS)
        except Exception as exc:
            raise Unavailable(
                f"cannot connect to PostgreSQL at {settings.describe()['database']} "
                f"(SUPPORT_POSTGRES_URL): {_reason(exc)}"
            ) from None
        db = PostgresDatabase(pool)
        try:
            saver_class = postgres_saver_class(KeyedPostgresSaver, settings)
            checkpointer = saver_class(pool, serde=checkpoint_serializer(settings))
            store = sealed_store(PostgresStore(pool), settings)
            # LangGraph's setup() migrations are not safe to race; serialise them across
            # processes.
            with pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
                try:
                    checkpointer.setup()
                    store.setup()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            migrate(db, on_create=first_start(settings))
        except psycopg.Error as exc:
            raise Unavailable(f"PostgreSQL setup failed: {_reason(exc)}") from exc
        locks = redis_locks(settings) or _advisory_locks(settings, stack)
        stack.callback(locks.close)
        on_session = None
        if isinstance(locks, PostgresThreadLocks):
            serde = checkpointer.serde
            session_saver_class = postgres_saver_class(TurnSessionSaver, settings)

            def on_session(conn: psycopg.Connection) -> KeyedPostgresSaver:
                # A turn's checkpoints go through the connection holding its advisory lock:
                # a lost session fails the write instead of a check before every step, and
                # the turn borrows nothing from the pool.
                return session_saver_class(conn, serde=serde)

        blobs = open_blob_store(settings, db)
        stack.callback(blobs.close)
        return Backend("postgres", checkpointer, store, db, locks, stack.pop_all(),
                       session_checkpointer=on_session, blobs=blobs,
                       session_database=PostgresSessionDatabase if on_session else None)


def _advisory_locks(settings: Settings, stack: ExitStack) -> ThreadLocks:
    """Session advisory locks on a pool of their own (a held lock pins its connection)."""
    lock_pool = connection_pool(settings, "support-agent-locks", min_size=0)
    stack.callback(lock_pool.close)
    lock_pool.open(wait=False)
    return PostgresThreadLocks(lock_pool)


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
