"""Per-thread locks, so two messages to one thread never run at the same time.

One run per thread at a time, across every process that shares the database:

- Redis (when SUPPORT_REDIS_URL is set): a token-owned key with an expiry, renewed while
  held and deleted only by its owner; a holder that dies releases it by expiry.
- PostgreSQL: a session advisory lock on a pooled connection; the server drops it when the
  holder's connection dies.
- SQLite: an exclusive flock on a file beside the database; the kernel drops it when the
  holder dies.
- memory: an in-process lock (the memory saver lives in one process anyway).

`hold(thread_id, wait_seconds)` waits up to `wait_seconds` (0: try once) and raises
ThreadBusy if the thread is still busy. It yields a Lease: a holder checks `lease.held()`
between steps, because a lock can be lost while held (a PostgreSQL restart ends the session
that held an advisory lock; a frozen process lets a Redis key expire or an emptied Redis
forgets it). A lost lease stops the turn before it writes another checkpoint (agent/turns.py
also checks that nobody else wrote to the thread meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

from agent.errors import ThreadBusy, Unavailable

POLL_SECONDS = 0.05
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class Lease:
    """Proof of holding a thread's lock, which can be re-checked while the work goes on."""

    def __init__(self, thread_id: str, still_held: Callable[[], bool], *,
                 can_be_lost: bool = False,
                 taken_by_other: Callable[[], bool] = lambda: False,
                 session: object | None = None):
        self.thread_id = thread_id
        # The database session the lock lives in (a PostgreSQL advisory lock's connection),
        # None for other kinds. Writes sent through it are fenced for free: they can only
        # happen while the session, and so the lock, is alive.
        self.session = session
        # False for locks that only end with their holder (flock, in-process): nothing to check.
        self.can_be_lost = can_be_lost
        self._still_held = still_held
        self._taken_by_other = taken_by_other
        self.last_words: Callable[[object], None] | None = None

    def release_with(self, statement: Callable[[object], None]) -> None:
        """Have `statement(session)` sent in the transaction that gives the lock back.

        For session locks only: a turn's last registry write costs no transaction of its own.
        """
        if self.session is None:
            raise ValueError(f"a {type(self).__name__} without a session has nothing to send "
                             "with its release")
        self.last_words = statement

    def held(self) -> bool:
        """True while the lock is still this holder's."""
        return not self.can_be_lost or self._still_held()

    def taken_over(self) -> bool:
        """True if, the lock being lost, another request holds the thread now (when knowable)."""
        return self.can_be_lost and self._taken_by_other()


def busy(thread_id: str, waited: float) -> ThreadBusy:
    """The error a second sender gets."""
    after = f" after waiting {waited:.0f}s" if waited >= 1 else ""
    return ThreadBusy(f"thread {thread_id} is busy: another message to it is being answered"
                      f"{after}; try again in a moment")


class ThreadLocks(ABC):
    """Mutual exclusion per thread id."""

    kind: str
    # Kinds whose lock can vanish while its holder lives (a session, a key) say so.
    can_be_lost = False

    @contextlib.contextmanager
    def hold(self, thread_id: str, wait_seconds: float) -> Iterator[Lease]:
        """Hold the thread's lock for the block; ThreadBusy if it stays taken too long."""
        deadline = time.monotonic() + wait_seconds
        started = time.monotonic()
        token = self._try_acquire(thread_id)
        while token is None:
            if time.monotonic() >= deadline:
                raise busy(thread_id, time.monotonic() - started)
            time.sleep(POLL_SECONDS)
            token = self._try_acquire(thread_id)
        lease = Lease(thread_id, lambda: self._still_held(thread_id, token),
                      can_be_lost=self.can_be_lost,
                      taken_by_other=lambda: self._held_by_other(thread_id, token),
                      session=self._session(token))
        try:
            yield lease
        finally:
            if lease.last_words is None:
                self._release(thread_id, token)
            else:
                self._release_saying(thread_id, token, lease.last_words)

    def _still_held(self, thread_id: str, token: object) -> bool:
        """True unless the lock can be lost while held (the kinds that can override this)."""
        return True

    def _held_by_other(self, thread_id: str, token: object) -> bool:
        """True if someone else holds the thread's lock now (False when it cannot be told)."""
        return False

    def _session(self, token: object) -> object | None:
        """The database session holding the lock, for kinds whose lock lives in one."""
        return None

    @abstractmethod
    def _try_acquire(self, thread_id: str) -> object | None:
        """A token proving ownership, or None if another holder has it."""

    @abstractmethod
    def _release(self, thread_id: str, token: object) -> None:
        """Give the lock back (never fails the caller)."""

    def _release_saying(self, thread_id: str, token: object,
                        statement: Callable[[object], None]) -> None:
        """Give the lock back with a statement in the same transaction (session kinds)."""
        raise NotImplementedError(f"{self.kind} locks have no session to send statements on")

    def close(self) -> None:  # noqa: B027 - an optional hook; most kinds hold nothing
        """Release resources (connections, renewal threads)."""


class MemoryThreadLocks(ThreadLocks):
    """In-process locks for the memory saver."""

    kind = "in-process"

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._guard = threading.Lock()

    def _try_acquire(self, thread_id: str) -> object | None:
        with self._guard:
            if thread_id in self._held:
                return None
            self._held.add(thread_id)
            return thread_id

    def _release(self, thread_id: str, token: object) -> None:
        with self._guard:
            self._held.discard(thread_id)


class FileThreadLocks(ThreadLocks):
    """flock on bucketed files beside the SQLite database (works across processes)."""

    kind = "file lock"

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, thread_id: str) -> Path:
        # One file per thread: two threads never share a lock (no false "busy"). Ids that are
        # not plain file names (never ours, but be safe) are hashed.
        name = thread_id if _SAFE_NAME.match(thread_id) else \
            hashlib.sha256(thread_id.encode()).hexdigest()
        return self.directory / f"{name}.lock"

    def _try_acquire(self, thread_id: str) -> object | None:
        # Each attempt opens its own file description, so two threads of one process
        # exclude each other too (flock belongs to the open file, not the process).
        fd = os.open(self._path(thread_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _release(self, thread_id: str, token: object) -> None:
        assert isinstance(token, int)
        with contextlib.suppress(OSError):
            fcntl.flock(token, fcntl.LOCK_UN)
        os.close(token)


class PostgresThreadLocks(ThreadLocks):
    """Session advisory locks; the connection is held out of its pool while locked.

    Give it a pool of its own (not the checkpointer's): every running turn holds one of its
    connections, and must not starve the checkpoint writes of theirs.
    """

    kind = "PostgreSQL advisory lock"
    can_be_lost = True
    _NAMESPACE = "support-agent:thread:"

    def __init__(self, pool):  # psycopg_pool.ConnectionPool
        self.pool = pool

    def _try_acquire(self, thread_id: str) -> object | None:
        try:
            conn = self.pool.getconn()
        except Exception as exc:
            raise Unavailable(f"no PostgreSQL connection for the thread lock ({exc}); too many "
                              "turns at once, or the database is down - try again") from exc
        try:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS locked",
                (self._NAMESPACE + thread_id,),
            ).fetchone()
        except Exception as exc:
            self.pool.putconn(conn)
            raise Unavailable(f"PostgreSQL is unreachable ({exc}); try again") from exc
        if row["locked"]:
            return conn
        self.pool.putconn(conn)
        return None

    def _session(self, token: object) -> object | None:
        return token  # the connection whose session holds the advisory lock

    def _still_held(self, thread_id: str, token: object) -> bool:
        # A session lock lives as long as its session: if the connection still answers, it is
        # the same session and the lock is held; a server restart breaks the connection.
        try:
            token.execute("SELECT 1")
        except Exception:
            return False
        return True

    def _release(self, thread_id: str, token: object) -> None:
        try:
            token.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                          (self._NAMESPACE + thread_id,))
        except Exception:
            token.close()  # the lock died with the session (e.g. a server restart)
        finally:
            self.pool.putconn(token)

    def _release_saying(self, thread_id: str, token: object,
                        statement: Callable[[object], None]) -> None:
        # One pipeline, so one transaction: the statement and the unlock. If either fails the
        # connection is closed, which frees the lock; a status not written is mended by
        # `reconcile`, as after a crash.
        try:
            with token.pipeline():
                statement(token)
                token.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                              (self._NAMESPACE + thread_id,))
        except Exception:
            token.close()
        finally:
            self.pool.putconn(token)


_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisThreadLocks(ThreadLocks):
    """Token-owned expiring keys, renewed by a background thread while held."""

    kind = "Redis"
    can_be_lost = True

    def __init__(self, url: str, prefix: str, ttl_seconds: float):
        import redis

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        self.prefix = prefix
        self.ttl_ms = max(int(ttl_seconds * 1000), 500)
        self._renew = self.client.register_script(_RENEW_IF_OWNER)
        self._delete = self.client.register_script(_DELETE_IF_OWNER)
        self._held: dict[str, str] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def key(self, thread_id: str) -> str:
        """The Redis key of a thread's lock."""
        return f"{self.prefix}lock:{thread_id}"

    def _try_acquire(self, thread_id: str) -> object | None:
        token = secrets.token_hex(16)
        try:
            if not self.client.set(self.key(thread_id), token, nx=True, px=self.ttl_ms):
                return None
        except self._errors as exc:
            raise Unavailable(f"Redis is unreachable ({exc}); try again") from exc
        with self._guard:
            self._held[thread_id] = token
            self._ensure_renewer()
        return token

    def _still_held(self, thread_id: str, token: object) -> bool:
        try:
            return self.client.get(self.key(thread_id)) == token.encode()
        except self._errors:
            return False

    def _held_by_other(self, thread_id: str, token: object) -> bool:
        try:
            current = self.client.get(self.key(thread_id))
        except self._errors:
            return False
        return current is not None and current != token.encode()

    def _release(self, thread_id: str, token: object) -> None:
        with self._guard:
            # Only our own entry: a newer holder in this process must keep being renewed.
            if self._held.get(thread_id) == token:
                del self._held[thread_id]
        with contextlib.suppress(self._errors):
            self._delete(keys=[self.key(thread_id)], args=[token])

    def _ensure_renewer(self) -> None:
        if self._renewer is None or not self._renewer.is_alive():
            self._renewer = threading.Thread(target=self._renew_loop, name="thread-lock-renewer",
                                             daemon=True)
            self._renewer.start()

    def _renew_loop(self) -> None:
        # Extend every held lock at a third of its lifetime, so only a dead (or frozen)
        # holder lets one expire.
        while not self._stop.wait(self.ttl_ms / 3000):
            with self._guard:
                held = list(self._held.items())
            for thread_id, token in held:
                with contextlib.suppress(self._errors):
                    self._renew(keys=[self.key(thread_id)], args=[token, self.ttl_ms])

    def close(self) -> None:
        self._stop.set()
        self.client.close()
