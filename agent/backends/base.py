"""What every backend is: the parts a saver kind owns, closed in reverse order of opening."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from agent.backends.blobs import BlobStore
from agent.core.db import Database, Dialect, Session
from agent.errors import ConfigError
from agent.persistence.locks import RedisThreadLocks, ThreadLocks
from agent.settings import Settings

_OPENERS: dict[str, Callable[[Settings], Backend]] = {}


@dataclass(frozen=True)
class Backend:
    """Everything on disk for one saver kind: checkpoints, long-term store, app tables, locks.

    Only built complete (by a kind's `open`); `close` releases what it opened, newest first.
    """

    kind: str
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    db: Database
    locks: ThreadLocks
    resources: ExitStack = field(repr=False)
    # For kinds whose thread locks live in a database session: the same saver over that
    # session's connection, so a turn's checkpoints are written only while its lock is held.
    session_checkpointer: Callable[[Any], BaseCheckpointSaver] | None = None
    # The app database over such a session, for a turn's last registry write (it rides with
    # the lock's release).
    session_database: Callable[[Any], Database] | None = None
    # Where attachment bytes live (agent/backends/blobs.py); checkpoints hold references.
    blobs: BlobStore | None = None

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the app database."""
        return self.db.dialect

    def close(self) -> None:
        """Close connections in reverse order of opening (idempotent)."""
        self.resources.close()


def backend_kind(kind: str):
    """Register a module's opener as the backend for a saver kind."""

    def register(opener: Callable[[Settings], Backend]) -> Callable[[Settings], Backend]:
        _OPENERS[kind] = opener
        return opener

    return register


def open_backend(settings: Settings) -> Backend:
    """Open (and migrate) the backend chosen by `settings.saver`, with its locks."""
    kind = settings.saver
    if kind not in _OPENERS:
        module = f"agent.backends.{kind}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the kind's module exists but lacks a dependency
                raise
    opener = _OPENERS.get(kind)
    if opener is None:
        raise ConfigError(f"unknown saver {kind!r}; use memory, sqlite or postgres")
    return opener(settings)


def first_start(settings: Settings) -> Callable[[Session], object] | None:
    """What a brand-new database gets with its tables: the demo shop, when configured."""
    from agent.domain.seed import seed_demo_shop

    return seed_demo_shop if settings.seeds_demo_data else None


def redis_locks(settings: Settings) -> ThreadLocks | None:
    """Redis locks when configured (shared by every instance, whatever the saver)."""
    if settings.redis_url:
        return RedisThreadLocks(settings.redis_url, settings.redis_key_prefix,
                                settings.lock_ttl_seconds)
    return None
