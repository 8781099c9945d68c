"""Test databases on a PostgreSQL server: one migrated template, cloned for every test.

Shared by the fixtures for the machine's server (conftest.py) and for a throwaway cluster
(tests that restart their server), so both hold databases prepared the same way.
"""

from __future__ import annotations

import secrets

import psycopg

from agent.settings import load_settings


def database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server `admin_url` points at."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def create_template(admin_url: str) -> str:
    """Create, migrate and seed a template database; return its name (OperationalError if
    down)."""
    name = f"sa_tmpl_{secrets.token_hex(4)}"
    # Short-lived admin connections: a test may restart the server in between.
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        from agent.service import SupportDesk

        # The suite's scenarios are written around the demo shop (alice, bob, sam...), which a
        # new PostgreSQL database does not get by itself: seed it explicitly, as an operator
        # would with `support-agent seed --demo`.
        with SupportDesk.open(load_settings(saver="postgres",
                                            postgres_url=database_url(admin_url, name))) as desk:
            desk.seed_demo()
    except BaseException:
        drop_database(admin_url, name)
        raise
    return name


def clone_database(admin_url: str, template: str) -> str:
    """Create a fresh database from `template`; return its name."""
    name = f"sa_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database, cutting any session still connected to it."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
