"""Proof that the suite leaves the machine's own PostgreSQL and Redis servers alone.

A snapshot taken when a test session starts is compared with one taken when it ends: the
PostgreSQL server's `pg_postmaster_start_time()` and the Redis server's `run_id` change when a
server is restarted, and a marker key of the session's own disappears when Redis is emptied
(FLUSHALL/FLUSHDB). A server that was down at the start is not watched.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime

import psycopg
import redis

MARKER_TTL_SECONDS = 24 * 3600  # a killed session's marker must not stay for good


def postgres_started_at(admin_url: str) -> datetime | None:
    """When the PostgreSQL server started, or None when it is unreachable."""
    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    except psycopg.OperationalError:
        return None


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                decode_responses=True)


@dataclasses.dataclass
class ServersSnapshot:
    """What identifies the running shared servers at one moment."""

    postgres_url: str
    redis_url: str
    postgres_started: datetime | None
    redis_run_id: str | None
    redis_marker: str | None

    @classmethod
    def take(cls, postgres_url: str, redis_url: str) -> ServersSnapshot:
        """Record both servers' identities and leave a marker key in Redis."""
        run_id = marker = None
        client = _redis(redis_url)
        try:
            run_id = client.info("server")["run_id"]
            marker = f"support-agent-test-guard-{secrets.token_hex(6)}"
            client.set(marker, "left by the test suite to notice a flush",
                       ex=MARKER_TTL_SECONDS)
        except redis.RedisError:
            pass
        finally:
            client.close()
        return cls(postgres_url, redis_url, postgres_started_at(postgres_url), run_id, marker)

    def changes(self) -> list[str]:
        """What happened to the servers since the snapshot (empty when nothing did)."""
        found = []
        if self.postgres_started is not None:
            now = postgres_started_at(self.postgres_url)
            if now is None:
                found.append(f"the PostgreSQL server at {self.postgres_url} was stopped")
            elif now != self.postgres_started:
                found.append(f"the PostgreSQL server at {self.postgres_url} was restarted "
                             f"(started at {self.postgres_started}, now at {now})")
        if self.redis_run_id is not None:
            found.extend(self._redis_changes())
        return found

    def _redis_changes(self) -> list[str]:
        client = _redis(self.redis_url)
        try:
            run_id = client.info("server")["run_id"]
            if run_id != self.redis_run_id:
                return [f"the Redis server at {self.redis_url} was restarted"]
            if not client.delete(self.redis_marker):
                return [f"the Redis server at {self.redis_url} was emptied (FLUSHALL/FLUSHDB)"]
            return []
        except redis.RedisError as exc:
            return [f"the Redis server at {self.redis_url} was stopped ({exc})"]
        finally:
            client.close()
