"""Per-thread locks (agent/persistence/locks.py) on their real backends.

Every kind must exclude a second holder of the same thread, leave other threads free, wait a
bounded time and name the thread when it gives up. The kinds that work across processes (file
locks for SQLite, PostgreSQL advisory locks, Redis keys) are also held by a real child process
that is then SIGKILLed, to show a dead holder never keeps a thread locked for good.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from agent.errors import ThreadBusy
from agent.persistence.locks import (
    FileThreadLocks,
    MemoryThreadLocks,
    PostgresThreadLocks,
    RedisThreadLocks,
    ThreadLocks,
)
from agent.persistence.savers import open_persistence
from agent.settings import load_settings

LOCK_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("file", id="file"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
# A SIGKILLed holder: the kernel drops its flock, the server its session's advisory lock.
RELEASED_BY_DEATH = [
    pytest.param("file", id="file"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

THREAD_X = "thread-x"
THREAD_Y = "thread-y"  # in another file-lock bucket than THREAD_X (the bucket is a fixed hash)
POOL_SIZE = 3
CHILD_READY_SECONDS = 30.0

# The child process: takes the lock described by argv[1] (JSON), says so, then sleeps until
# it is killed. It builds its locks exactly as the test does, but in a process of its own.
HOLDER_SCRIPT = """
import json, sys, time
from pathlib import Path

spec = json.loads(sys.argv[1])
kind = spec["kind"]
if kind == "file":
    from agent.persistence.locks import FileThreadLocks
    locks = FileThreadLocks(Path(spec["directory"]))
elif kind == "postgres":
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
    from agent.persistence.locks import PostgresThreadLocks
    pool = ConnectionPool(spec["url"], min_size=1, max_size=2, open=True,
                          kwargs={"autocommit": True, "row_factory": dict_row})
    locks = PostgresThreadLocks(pool)
else:
    from agent.persistence.locks import RedisThreadLocks
    locks = RedisThreadLocks(spec["url"], spec["prefix"], spec["ttl_seconds"])
with locks.hold(spec["thread_id"], 0):
    print("held", flush=True)
    time.sleep(600)
"""


# --- fixtures and helpers ----------------------------------------------------------------------


def open_pool(url: str) -> ConnectionPool:
    """A fixed-size pool configured like the product's (autocommit, dict rows).

    Fixed size, so `pool_size - pool_available` is exactly the number of connections out.
    """
    pool = ConnectionPool(url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=True,
                          kwargs={"autocommit": True, "prepare_threshold": 0,
                                  "row_factory": dict_row})
    pool.wait(timeout=10)
    return pool


def connections_out(pool: ConnectionPool) -> int:
    """How many connections are borrowed from the pool right now."""
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator:
    """A plain client to look at (and tamper with) lock keys from outside the locks."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def make_locks(request: pytest.FixtureRequest,
               tmp_path: Path) -> Iterator[Callable[..., ThreadLocks]]:
    """Build locks of a kind; instances of one test share the backend, as processes would.

    Each PostgreSQL instance gets its own pool, like a separate process; all are closed after.
    """
    opened: list[ThreadLocks] = []
    pools: list[ConnectionPool] = []

    def build(kind: str, *, ttl_seconds: float = 120.0) -> ThreadLocks:
        locks: ThreadLocks
        if kind == "memory":
            locks = MemoryThreadLocks()
        elif kind == "file":
            locks = FileThreadLocks(tmp_path / "locks")
        elif kind == "postgres":
            pool = open_pool(request.getfixturevalue("postgres_url"))
            pools.append(pool)
            locks = PostgresThreadLocks(pool)
        elif kind == "redis":
            locks = RedisThreadLocks(request.getfixturevalue("redis_url"),
                                     request.getfixturevalue("redis_prefix"), ttl_seconds)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
        opened.append(locks)
        return locks

    yield build
    for locks in reversed(opened):
        locks.close()
    for pool in pools:
        pool.close()


def attempt(locks: ThreadLocks, thread_id: str, wait_seconds: float = 0) -> ThreadBusy | None:
    """Take and release the lock from another OS thread; the ThreadBusy raised, or None."""

    def take() -> ThreadBusy | None:
        try:
            with locks.hold(thread_id, wait_seconds):
                return None
        except ThreadBusy as exc:
            return exc

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(take).result(timeout=wait_seconds + 30)


class Holder:
    """Holds a thread's lock in a background thread until told to let go."""

    def __init__(self, locks: ThreadLocks, thread_id: str):
        self.locks = locks
        self.thread_id = thread_id
        self.held = threading.Event()
        self.release = threading.Event()
        self.releasing_at = 0.0  # monotonic time just before the lock is given back
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.locks.hold(self.thread_id, 0):
                self.held.set()
                self.release.wait(timeout=30)
                self.releasing_at = time.monotonic()
        except BaseException as exc:  # reported by start() or stop()
            self.error = exc
            self.held.set()

    def start(self) -> Holder:
        self._thread.start()
        assert self.held.wait(timeout=10), "the holder never got the lock"
        assert self.error is None, self.error
        return self

    def stop(self) -> None:
        self.release.set()
        self._thread.join(timeout=10)
        assert self.error is None, self.error


@pytest.fixture
def holders() -> Iterator[Callable[[ThreadLocks, str], Holder]]:
    """Start Holders; any still holding at the end of the test is released."""
    started: list[Holder] = []

    def start(locks: ThreadLocks, thread_id: str) -> Holder:
        holder = Holder(locks, thread_id)
        started.append(holder)
        return holder.start()

    yield start
    for holder in started:
        holder.release.set()
        holder._thread.join(timeout=10)


@pytest.fixture
def spawn_holder(tmp_path: Path) -> Iterator[Callable[[dict], subprocess.Popen]]:
    """Start a child process that takes a lock and sleeps; returns once it holds the lock."""
    script = tmp_path / "hold_lock.py"
    script.write_text(HOLDER_SCRIPT)
    children: list[subprocess.Popen] = []

    def spawn(spec: dict) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, str(script), json.dumps(spec)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=tmp_path)
        children.append(child)
        # The child's "held" line is the barrier: only then is the lock really taken.
        ready, _, _ = select.select([child.stdout], [], [], CHILD_READY_SECONDS)
        line = child.stdout.readline() if ready else ""
        if line.strip() != "held":
            child.kill()
            _, stderr = child.communicate(timeout=10)
            pytest.fail(f"the lock-holding child did not start (said {line!r}):\n{stderr}")
        return child

    yield spawn
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)


def kill(child: subprocess.Popen) -> None:
    """SIGKILL: no finally block, no atexit, nothing released by the child itself."""
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)  # reaped: its file descriptors and sockets are closed
    assert child.returncode == -signal.SIGKILL


def advisory_lock_holders(url: str) -> list[int]:
    """Backend pids holding an advisory lock in this database, seen from a fresh session."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return [row[0] for row in rows]


# --- every kind ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_a_held_thread_is_busy_for_others_and_other_threads_stay_free(
        kind: str, make_locks: Callable[..., ThreadLocks]) -> None:
    """While X is held, hold(X, 0) elsewhere raises ThreadBusy, Y is free, X frees on release."""
    locks = make_locks(kind)
    with locks.hold(THREAD_X, 0):
        refused = attempt(locks, THREAD_X)
        assert isinstance(refused, ThreadBusy)
        assert f"thread {THREAD_X} is busy" in str(refused)
        assert attempt(locks, THREAD_Y) is None
    assert attempt(locks, THREAD_X) is None
    # And again in this thread: a released lock leaves nothing behind that blocks its owner.
    with locks.hold(THREAD_X, 0):
        pass


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_a_waiting_sender_gets_the_thread_once_the_holder_lets_go(
        kind: str, make_locks: Callable[..., ThreadLocks],
        holders: Callable[[ThreadLocks, str], Holder]) -> None:
    """hold(X, 3) waits out a holder that keeps X for ~0.3 s, and gets it only after release."""
    locks = make_locks(kind)
    holder = holders(locks, THREAD_X)
    # The holder lets go 0.3 s from now, while this thread is already waiting.
    threading.Timer(0.3, holder.release.set).start()
    started = time.monotonic()
    with locks.hold(THREAD_X, wait_seconds=3):
        acquired_at = time.monotonic()
    holder.stop()
    # Ordering, not timing, is the oracle: the wait ended only after the holder let go.
    assert acquired_at >= holder.releasing_at > 0
    assert acquired_at - started < 3, "the waiter ran into its deadline instead of the release"


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_waiting_is_bounded_and_the_error_names_the_thread(
        kind: str, make_locks: Callable[..., ThreadLocks],
        holders: Callable[[ThreadLocks, str], Holder]) -> None:
    """hold(X, 0.3) against a holder that keeps X (up to 2 s) gives up after ~0.3 s."""
    locks = make_locks(kind)
    holder = holders(locks, THREAD_X)
    # A fail-safe in case the waiter hangs: the holder never keeps the lock more than 2 s.
    threading.Timer(2.0, holder.release.set).start()
    started = time.monotonic()
    with pytest.raises(ThreadBusy) as refused, locks.hold(THREAD_X, wait_seconds=0.3):
        pytest.fail("got a lock that is held")
    waited = time.monotonic() - started
    assert not holder.release.is_set(), "gave up only because the holder let go"
    assert 0.3 <= waited < 1.5
    assert f"thread {THREAD_X} is busy" in str(refused.value)
    assert "try again" in str(refused.value)
    holder.stop()


# --- across processes ---------------------------------------------------------------------------


def holder_spec(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                **extra: object) -> dict:
    """What the child needs to build locks sharing this test's backend."""
    spec: dict = {"kind": kind, "thread_id": THREAD_X, **extra}
    if kind == "file":
        spec["directory"] = str(tmp_path / "locks")
    elif kind == "postgres":
        spec["url"] = request.getfixturevalue("postgres_url")
    else:
        spec["url"] = request.getfixturevalue("redis_url")
        spec["prefix"] = request.getfixturevalue("redis_prefix")
    return spec


@pytest.mark.parametrize("kind", RELEASED_BY_DEATH)
def test_a_killed_holder_process_frees_the_thread_at_once(
        kind: str, make_locks: Callable[..., ThreadLocks],
        spawn_holder: Callable[[dict], subprocess.Popen],
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A child process holds X: the parent gets ThreadBusy; after SIGKILL, X is free."""
    locks = make_locks(kind)
    child = spawn_holder(holder_spec(kind, request, tmp_path))
    refused = attempt(locks, THREAD_X)
    assert isinstance(refused, ThreadBusy)
    assert attempt(locks, THREAD_Y) is None
    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        [child_backend] = advisory_lock_holders(url)
        kill(child)
        # The server ends the dead client's session when it reads EOF on the socket; that
        # takes a moment after the kill, so wait for the session (not a fixed time) to end.
        with psycopg.connect(url, autocommit=True) as conn:
            deadline = time.monotonic() + 10
            while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                               (child_backend,)).fetchone():
                assert time.monotonic() < deadline, "the killed client's session lives on"
                time.sleep(0.02)
    else:
        kill(child)
    # No waiting: the lock went with the process (kernel) or its session (server).
    assert attempt(locks, THREAD_X) is None


@pytest.mark.redis
def test_a_killed_redis_holder_frees_the_thread_when_its_ttl_runs_out(
        make_locks: Callable[..., ThreadLocks], spawn_holder: Callable[[dict], subprocess.Popen],
        redis_client, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A child holds X with a 1 s TTL: busy while alive (renewed), busy until expiry, then free."""
    ttl = 1.0
    locks = make_locks("redis", ttl_seconds=ttl)
    assert isinstance(locks, RedisThreadLocks)
    child = spawn_holder(holder_spec("redis", request, tmp_path, ttl_seconds=ttl))
    key = locks.key(THREAD_X)
    token = redis_client.get(key)
    assert token and 0 < redis_client.pttl(key) <= ttl * 1000
    # Longer than the TTL: the living child's renewals keep the key (and the same token).
    time.sleep(ttl * 1.5)
    assert redis_client.get(key) == token
    assert isinstance(attempt(locks, THREAD_X), ThreadBusy)

    kill(child)
    # Nobody deletes a dead holder's key: right after the kill the thread is still busy...
    assert redis_client.get(key) == token
    assert isinstance(attempt(locks, THREAD_X), ThreadBusy)
    # ...until the key expires, within one TTL of the last renewal.
    killed_at = time.monotonic()
    assert attempt(locks, THREAD_X, wait_seconds=3 * ttl) is None
    assert time.monotonic() - killed_at <= ttl + 0.5


# --- Redis specifics ----------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_lock_is_renewed_while_held(make_locks: Callable[..., ThreadLocks],
                                          redis_client) -> None:
    """Held for over 3x its TTL, the key never expires and keeps the holder's token."""
    ttl = 0.6
    locks = make_locks("redis", ttl_seconds=ttl)
    other = make_locks("redis", ttl_seconds=ttl)  # another process, as far as Redis can tell
    assert isinstance(locks, RedisThreadLocks)
    key = locks.key(THREAD_X)
    with locks.hold(THREAD_X, 0):
        token = redis_client.get(key)
        assert token
        until = time.monotonic() + 3.5 * ttl
        while time.monotonic() < until:
            assert redis_client.get(key) == token, "the lock expired while its holder was alive"
            assert redis_client.pttl(key) > 0
            time.sleep(0.05)
        assert isinstance(attempt(other, THREAD_X), ThreadBusy)
    assert redis_client.exists(key) == 0


@pytest.mark.redis
def test_redis_release_never_deletes_a_later_holders_key(make_locks: Callable[..., ThreadLocks],
                                                         redis_client) -> None:
    """If A's key expired and B took X, A's release leaves B's key alone."""
    first = make_locks("redis")
    second = make_locks("redis")  # another process
    assert isinstance(first, RedisThreadLocks)
    key = first.key(THREAD_X)
    with contextlib.ExitStack() as second_hold:
        with first.hold(THREAD_X, 0):
            first_token = redis_client.get(key)
            redis_client.delete(key)  # A's lock expires (A froze, or lost Redis for a while)
            second_hold.enter_context(second.hold(THREAD_X, 0))
            second_token = redis_client.get(key)
            assert second_token and second_token != first_token
        # A let go of what it thinks it holds: B's key must survive.
        assert redis_client.get(key) == second_token
        assert isinstance(attempt(first, THREAD_X), ThreadBusy)
    assert redis_client.exists(key) == 0


@pytest.mark.redis
def test_redis_stale_release_keeps_renewing_a_later_holder_in_the_same_process(
        make_locks: Callable[..., ThreadLocks], redis_client,
        holders: Callable[[ThreadLocks, str], Holder]) -> None:
    """A's key expired and B (same process) took X: after A's release B's key is still renewed."""
    ttl = 0.6
    locks = make_locks("redis", ttl_seconds=ttl)
    assert isinstance(locks, RedisThreadLocks)
    key = locks.key(THREAD_X)
    stale = holders(locks, THREAD_X)
    redis_client.delete(key)  # A's lock expires while A still runs
    later = holders(locks, THREAD_X)  # B: another request served by the same process
    later_token = redis_client.get(key)
    stale.stop()
    assert redis_client.get(key) == later_token
    # B still holds X, so its key must outlive several TTLs.
    time.sleep(3 * ttl)
    assert redis_client.get(key) == later_token, "B's lock expired while B was still holding it"
    later.stop()


@pytest.mark.redis
def test_redis_lock_keys_use_the_configured_prefix(redis_url: str, redis_prefix: str,
                                                   redis_client) -> None:
    """With SUPPORT_REDIS_URL the persistence layer's locks live under the configured prefix."""
    settings = load_settings(saver="memory", redis_url=redis_url, redis_key_prefix=redis_prefix)
    persistence = open_persistence(settings)
    try:
        locks = persistence.locks
        assert isinstance(locks, RedisThreadLocks)
        assert locks.key(THREAD_X) == f"{redis_prefix}lock:{THREAD_X}"
        with locks.hold(THREAD_X, 0):
            assert sorted(redis_client.scan_iter(match=redis_prefix + "*")) == [
                f"{redis_prefix}lock:{THREAD_X}"]
            assert redis_client.exists(f"support-agent:lock:{THREAD_X}") == 0
        assert list(redis_client.scan_iter(match=redis_prefix + "*")) == []
    finally:
        persistence.close()


# --- PostgreSQL specifics -----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_lock_connection_goes_back_to_the_pool(
        make_locks: Callable[..., ThreadLocks], postgres_url: str) -> None:
    """While held, one pool connection is out (holding the lock); released, it is back and free."""
    locks = make_locks("postgres")
    assert isinstance(locks, PostgresThreadLocks)
    pool = locks.pool
    assert connections_out(pool) == 0
    with locks.hold(THREAD_X, 0):
        assert connections_out(pool) == 1
        assert len(advisory_lock_holders(postgres_url)) == 1
    assert connections_out(pool) == 0
    assert advisory_lock_holders(postgres_url) == []
    # A refused attempt borrows a connection too, and must give it back as well.
    other = make_locks("postgres")
    with locks.hold(THREAD_X, 0):
        assert isinstance(attempt(other, THREAD_X), ThreadBusy)
        assert connections_out(other.pool) == 0
    # Every connection, including the one that held the lock, is healthy for other work.
    for _ in range(POOL_SIZE):
        with pool.connection() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


@pytest.mark.postgres
def test_postgres_lock_survives_other_work_on_the_pool(
        make_locks: Callable[..., ThreadLocks], postgres_url: str) -> None:
    """Queries, failed transactions and unlock-all on other pool connections leave X locked."""
    locks = make_locks("postgres")
    other = make_locks("postgres")  # another process
    assert isinstance(locks, PostgresThreadLocks)
    pool = locks.pool
    with locks.hold(THREAD_X, 0):
        [lock_backend] = advisory_lock_holders(postgres_url)
        others_used: set[int] = set()
        for _ in range(3 * POOL_SIZE):
            with pool.connection() as conn:
                others_used.add(conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
                # Only releases this session's advisory locks, never another session's.
                conn.execute("SELECT pg_advisory_unlock_all()")
            # A failed transaction on another connection rolls back only its own work.
            with (contextlib.suppress(psycopg.errors.DivisionByZero), pool.connection() as conn,
                  conn.transaction()):
                conn.execute("SELECT 1 / 0")
        # All the other connections at once: the locked one is never lent out while held.
        with contextlib.ExitStack() as borrowed:
            for _ in range(POOL_SIZE - 1):
                conn = borrowed.enter_context(pool.connection(timeout=5))
                others_used.add(conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
        assert lock_backend not in others_used
        assert len(others_used) == POOL_SIZE - 1
        assert advisory_lock_holders(postgres_url) == [lock_backend]
        assert isinstance(attempt(other, THREAD_X), ThreadBusy)
    assert attempt(other, THREAD_X) is None
