"""Shared fixtures: settings per saver kind, real PostgreSQL databases, real Redis.

PostgreSQL: one migrated template database per test session; every test gets its own copy
(CREATE DATABASE ... TEMPLATE), dropped afterwards. Outside CI a missing server skips those
tests with instructions; with CI=true it fails them. The session ends with an error if the
machine's PostgreSQL or Redis was stopped, restarted or emptied meanwhile: tests that need that
use throwaway servers (tests/support/pg_cluster.py, tests/support/redis_server.py).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from support.databases import clone_database, create_template, database_url, drop_database
from support.neighbours import ServersSnapshot
from support.parallel import make_scheduler
from support.pg_cluster import ThrowawayPostgres
from support.services import (
    ADMIN_URL,
    REDIS_URL,
    SAVERS,
    START_POSTGRES,
    START_REDIS,
    missing_service,
)

from agent.settings import Settings, load_settings


@pytest.hookimpl(optionalhook=True)  # only called when pytest-xdist is active
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With `--dist loadgroup`, keep tests that share an expensive fixture on one worker."""
    if config.getvalue("dist") == "loadgroup":
        return make_scheduler(config, log)
    return None


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or SUPPORT_*/OPENAI_* variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("SUPPORT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _shared_servers_left_alone() -> Iterator[None]:
    """The suite never stops, restarts or empties the machine's own PostgreSQL and Redis."""
    before = ServersSnapshot.take(ADMIN_URL, REDIS_URL)
    yield
    changes = before.changes()
    assert not changes, ("the test session disturbed a shared server: " + "; ".join(changes)
                         + ". A test that needs to do that must use a throwaway server "
                         "(tests/support/pg_cluster.py, tests/support/redis_server.py).")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated, seeded database to clone for each test."""
    try:
        name = create_template(ADMIN_URL)
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL is not reachable at {ADMIN_URL} ({exc}). "
                        f"Start it with: {START_POSTGRES}")
    try:
        yield name
    finally:
        drop_database(ADMIN_URL, name)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """The URL of a fresh database of our own, migrated and seeded; dropped afterwards."""
    name = clone_database(ADMIN_URL, postgres_template)
    try:
        yield database_url(ADMIN_URL, name)
    finally:
        drop_database(ADMIN_URL, name)


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster of the tests' own, for tests that stop or restart their server."""
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis server's URL (tests use their own key prefix)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing_service(f"Redis is not reachable at {REDIS_URL} ({exc}). "
                        f"Start it with: {START_REDIS}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; every key under it is deleted afterwards."""
    import redis

    prefix = f"support-agent-test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def make_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings for a saver kind: a temp SQLite file, or a fresh PostgreSQL database."""

    def build(saver: str, **overrides) -> Settings:
        if saver == "sqlite":
            overrides.setdefault("sqlite_path", tmp_path / "data" / "support.db")
        elif saver == "postgres":
            overrides.setdefault("postgres_url", request.getfixturevalue("postgres_url"))
        return load_settings(saver=saver, **overrides)

    return build


@pytest.fixture(params=SAVERS)
def saver(request: pytest.FixtureRequest) -> str:
    """Each behaviour test runs once per saver kind."""
    return request.param


@pytest.fixture
def settings(saver: str, make_settings: Callable[..., Settings]) -> Settings:
    """Default settings for the parametrised saver."""
    return make_settings(saver)


@pytest.fixture
def desk(settings: Settings):
    """A SupportDesk on the parametrised saver, closed afterwards."""
    from agent.service import SupportDesk

    with SupportDesk.open(settings) as opened:
        yield opened
