"""Where the test servers are, and what a test does when one is missing (shared by conftests)."""

from __future__ import annotations

import os

import pytest

ADMIN_URL = os.environ.get("SUPPORT_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

START_POSTGRES = ("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
START_REDIS = ('redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" '
               "--appendonly no")

SAVERS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def missing_service(message: str) -> None:
    """Skip (locally) or fail (in CI) a test whose server is not running."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
