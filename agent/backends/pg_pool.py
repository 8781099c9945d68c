"""Connection pools for the PostgreSQL backend, and a health check that costs no round trip.

psycopg_pool's stock check sends a query on every borrow: a turn borrowed a connection about
25 times, so a third of its statements were empty checks. A connection the server has closed
(a restart, an idle timeout) shows it on its socket: it becomes readable (end of file or an
error message). So a borrow checks the socket without waiting, and sends a real query only
when the socket has something to say or the connection sat idle long enough for a firewall
to have dropped it silently.
"""

from __future__ import annotations

import select
import time
import weakref

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from agent.settings import Settings

POOL_WAIT_SECONDS = 10.0  # how long a request waits for a connection before "unavailable"
POOL_RECONNECT_SECONDS = 10.0  # one reconnection attempt chain; the next request starts anew
IDLE_CHECK_SECONDS = 30.0  # idle longer than this: checked with a real query

_returned_at: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()


def connection_pool(settings: Settings, name: str, *, min_size: int) -> ConnectionPool:
    """A pool as PostgresSaver needs it (autocommit, no server-side prepares, dict rows)."""
    return ConnectionPool(
        settings.postgres_url,
        min_size=min_size,
        max_size=max(settings.postgres_pool_size, 2),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=check_if_suspect,
        reset=_stamp_return,
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=POOL_RECONNECT_SECONDS,
        open=False,
        name=name,
    )


def check_if_suspect(conn: psycopg.Connection) -> None:
    """Raise if the connection is unusable; a query is sent only when the socket or the idle
    time gives a reason to doubt it."""
    idle = time.monotonic() - _returned_at.get(conn, 0.0)
    if idle > IDLE_CHECK_SECONDS or _socket_has_news(conn):
        ConnectionPool.check_connection(conn)


def _socket_has_news(conn: psycopg.Connection) -> bool:
    """True if the server sent something to an idle connection (closing it, usually)."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True  # no socket to ask: let the real check say what is wrong
    return bool(readable)


def _stamp_return(conn: psycopg.Connection) -> None:
    """Note when a connection went back to the pool (for the idle-time rule)."""
    _returned_at[conn] = time.monotonic()
