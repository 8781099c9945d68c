"""Shared fixtures: settings per saver kind, real PostgreSQL databases, real Redis.

PostgreSQL: one migrated template database per test session; every test gets its own copy
(CREATE DATABASE ... TEMPLATE), dropped afterwards. Outside CI a missing server skips those
tests with instructions; with CI=true it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from support.services import (
    ADMIN_URL,
    REDIS_URL,
    SAVERS,
    START_POSTGRES,
    START_REDIS,
    missing_service,
)

from agent.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or SUPPORT_*/OPENAI_* variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("SUPPORT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated, seeded database to clone for each test."""
    name = f"sa_tmpl_{secrets.token_hex(4)}"
    try:
        # Short-lived admin connections: a test may restart the server in between.
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL is not reachable at {ADMIN_URL} ({exc}). "
                        f"Start it with: {START_POSTGRES}")
    try:
        from agent.persistence.savers import open_persistence

        open_persistence(load_settings(saver="postgres", postgres_url=_db_url(name))).close()
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """The URL of a fresh database of our own, migrated and seeded; dropped afterwards."""
    name = f"sa_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    try:
        yield _db_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
