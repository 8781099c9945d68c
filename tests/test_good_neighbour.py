"""The suite is a good neighbour: its guard notices a shared server being disturbed.

conftest.py's session fixture `_shared_servers_left_alone` compares a `ServersSnapshot` of the
machine's PostgreSQL and Redis taken at the start of the session with the servers at its end.
These tests show, on throwaway servers, that the comparison catches a restart, a stop and a
flush, so a quiet end of session really means the shared servers were left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.neighbours import ServersSnapshot
from support.pg_cluster import ThrowawayPostgres
from support.redis_server import ThrowawayRedis

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def servers(throwaway_postgres: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres,
                                                                     ThrowawayRedis]]:
    """The throwaway PostgreSQL (running again afterwards) and a Redis of this test's own."""
    try:
        with ThrowawayRedis() as redis_server:
            yield throwaway_postgres, redis_server
    finally:
        throwaway_postgres.start()


def test_servers_left_alone_show_no_change(servers) -> None:
    """Work that only uses the servers leaves nothing to report."""
    postgres, redis_server = servers
    snapshot = ServersSnapshot.take(postgres.url(), redis_server.url)
    assert snapshot.postgres_started is not None and snapshot.redis_run_id
    assert snapshot.changes() == []


def test_a_restart_of_either_server_is_reported(servers) -> None:
    """A restarted PostgreSQL and a restarted Redis are both named."""
    postgres, redis_server = servers
    snapshot = ServersSnapshot.take(postgres.url(), redis_server.url)
    postgres.restart()
    redis_server.restart()
    changes = snapshot.changes()
    assert len(changes) == 2, changes
    assert f"PostgreSQL server at {postgres.url()} was restarted" in changes[0]
    assert changes[1] == f"the Redis server at {redis_server.url} was restarted"


def test_a_stopped_server_is_reported(servers) -> None:
    """A server that is down at the end of the session is named."""
    postgres, redis_server = servers
    snapshot = ServersSnapshot.take(postgres.url(), redis_server.url)
    postgres.stop()
    redis_server.stop()
    changes = snapshot.changes()
    assert len(changes) == 2, changes
    assert changes[0] == f"the PostgreSQL server at {postgres.url()} was stopped"
    assert changes[1].startswith(f"the Redis server at {redis_server.url} was stopped")


def test_an_emptied_redis_is_reported(servers) -> None:
    """FLUSHALL on the shared Redis would wipe other people's keys: it is reported."""
    postgres, redis_server = servers
    snapshot = ServersSnapshot.take(postgres.url(), redis_server.url)
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    assert snapshot.changes() == [f"the Redis server at {redis_server.url} was emptied "
                                  "(FLUSHALL/FLUSHDB)"]


def test_a_server_down_at_the_start_is_not_watched(tmp_path) -> None:
    """Outside CI a missing server only skips its tests; the guard does not fail the session."""
    with ThrowawayRedis() as redis_server:
        down_redis = redis_server.url
    snapshot = ServersSnapshot.take("postgresql://postgres@127.0.0.1:1/postgres", down_redis)
    assert snapshot.postgres_started is None and snapshot.redis_run_id is None
    assert snapshot.changes() == []


INNER_TEST = '''
import redis
from support.services import REDIS_URL


def test_that_empties_redis():
    redis.Redis.from_url(REDIS_URL).flushall()


def test_that_only_reads():
    redis.Redis.from_url(REDIS_URL).ping()
'''


@pytest.mark.parametrize("selected, disturbed", [("only_reads", False), ("empties", True)])
def test_a_session_that_disturbs_a_server_ends_with_an_error(
        servers, tmp_path, selected: str, disturbed: bool) -> None:
    """The suite's own fixture, in a real pytest session whose "shared" servers are throwaway."""
    postgres, redis_server = servers
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    tests_dir = Path(__file__).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "PYTEST_"))}
    env.update(PYTHONPATH=str(tests_dir), SUPPORT_TEST_POSTGRES_URL=postgres.url(),
               SUPPORT_TEST_REDIS_URL=redis_server.url)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", "-k", selected, "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if not disturbed:
        assert done.returncode == 0, done.stdout + done.stderr
        return
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 1 deselected, 1 error" in done.stdout, done.stdout
    assert (f"the test session disturbed a shared server: the Redis server at "
            f"{redis_server.url} was emptied (FLUSHALL/FLUSHDB)") in done.stdout, done.stdout
