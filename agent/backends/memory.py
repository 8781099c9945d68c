"""The memory backend: everything in this process, lost on exit."""

from __future__ import annotations

from contextlib import ExitStack

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agent.backends.base import Backend, backend_kind, first_start, redis_locks
from agent.backends.blobs import open_blob_store
from agent.persistence.db import SqliteDatabase
from agent.persistence.locks import MemoryThreadLocks
from agent.persistence.migrations import migrate
from agent.persistence.serde import checkpoint_serializer
from agent.settings import Settings


@backend_kind("memory")
def open_memory(settings: Settings) -> Backend:
    """Open the memory backend."""
    with ExitStack() as stack:
        # The shop data and the registry live in a private in-memory SQLite database, so the
        # memory saver runs the very same SQL as the file-backed one and loses it all on exit.
        db = SqliteDatabase(":memory:")
        stack.callback(db.close)
        migrate(db, on_create=first_start(settings))
        locks = redis_locks(settings) or MemoryThreadLocks()
        stack.callback(locks.close)
        checkpointer = InMemorySaver(serde=checkpoint_serializer(settings))
        blobs = open_blob_store(settings, db)
        stack.callback(blobs.close)
        return Backend("memory", checkpointer, InMemoryStore(), db, locks, stack.pop_all(),
                       blobs=blobs)
