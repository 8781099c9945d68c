"""Live updates: thread events on Redis pub/sub, and a per-process subscriber counting them.

The instance that changes a thread (a turn started or ended, an approval requested or decided,
a supervisor's message, a handoff, a rename, a close, a delete) publishes a small event on its
tenant's channel: tenant, thread id, kind and checkpoint id, never message text. Every app
process runs one subscriber thread (started on first use) that bumps a version counter per
tenant and per thread, so open pages learn that something changed by comparing two numbers in
memory instead of reading the database.

Redis is optional and may go away at any time: publishing never raises (a turn never fails
for it), and `version` returns None while the subscriber is not connected, which tells pages
to poll the database as they do without Redis. The subscriber reconnects with backoff; each
connection is a new epoch, so pages re-read what they may have missed meanwhile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import threading
import time
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)

# The kinds of event, by the registry status a turn leaves behind (or what else happened).
KIND_BY_STATUS = {
    "running": "turn_started",
    "active": "reply",
    "interrupted": "reply",
    "awaiting_approval": "approval_requested",
    "handoff": "handoff",
    "closed": "closed",
}
# Pages listing a tenant's threads (the approvals inbox, the handoff queue) change with every
# kind except the start of a turn: that only matters to a page showing the thread itself.
THREAD_ONLY_KINDS = frozenset({"turn_started"})

CONNECT_SECONDS = 1.0
PUBLISH_PAUSE_SECONDS = 1.0  # after a failed publish, skip Redis this long (it is down)
BACKOFF_SECONDS = (0.2, 5.0)  # the subscriber's first and longest wait before reconnecting
LISTEN_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class ThreadEvent:
    """Something happened to a thread: who may care (tenant), which thread, what, where."""

    tenant: str
    thread_id: str
    kind: str
    checkpoint_id: str | None = None

    def to_json(self) -> str:
        """The event as published (small, and no message text)."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: bytes | str) -> ThreadEvent | None:
        """The event a message carries, or None for a malformed one (ignored)."""
        try:
            fields = json.loads(data)
            return cls(str(fields["tenant"]), str(fields["thread_id"]), str(fields["kind"]),
                       fields.get("checkpoint_id"))
        except (ValueError, KeyError, TypeError):
            return None


def event_kind(status_or_kind: str) -> str:
    """The event kind for a registry status (kinds that are no status pass through)."""
    return KIND_BY_STATUS.get(status_or_kind, status_or_kind)


def glob_escaped(text: str) -> str:
    """`text` as a Redis glob pattern that matches only itself."""
    # A key prefix is the operator's text: glob characters in it must match themselves.
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def _client(url: str, **options: Any):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No silent retries: a lost connection must show at once, so pages fall back to polling
    # and the epoch moves when the subscriber is back (events in the gap are lost).
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS,
                                retry=Retry(NoBackoff(), 0), **options)


class LiveUpdates:
    """Publishes thread events and follows everyone's, for one app process."""

    def __init__(self, url: str | None, prefix: str):
        self.url = url
        self.prefix = prefix
        self._lock = threading.Lock()
        self._publisher = None
        self._publish_paused_until = 0.0
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._connected = False
        self._epoch = 0
        self._tenant_versions: defaultdict[str, int] = defaultdict(int)
        self._thread_versions: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.received = 0

    @property
    def enabled(self) -> bool:
        """True when a Redis URL is configured for live updates."""
        return bool(self.url)

    def channel(self, tenant: str) -> str:
        """The pub/sub channel of a tenant's events."""
        return f"{self.prefix}events:{tenant}"

    # --- publishing -----------------------------------------------------------------------------

    def publish(self, event: ThreadEvent) -> bool:
        """Publish an event; False (never an error) when Redis is not there to take it."""
        if not self.url or time.monotonic() < self._publish_paused_until:
            return False
        import redis

        try:
            with self._lock:
                if self._publisher is None:
                    self._publisher = _client(self.url, socket_timeout=CONNECT_SECONDS)
                publisher = self._publisher
            publisher.publish(self.channel(event.tenant), event.to_json())
            return True
        except (redis.RedisError, OSError) as exc:
            # Pages fall back to polling while Redis is away; a turn must not wait on it.
            self._publish_paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS
            log.debug("live update not published (%s): %s", event.kind, exc)
            return False

    # --- following ------------------------------------------------------------------------------

    def version(self, tenant: str, thread_id: str | None = None) -> tuple[int, int] | None:
        """What has happened so far to a tenant's threads (or one thread), as a comparable value.

        None when updates cannot be followed now (no Redis, or not connected): poll instead.
        The first call starts the subscriber.
        """
        if not self.url:
            return None
        self.start()
        with self._lock:
            if not self._connected:
                return None
            if thread_id is None:
                return (self._epoch, self._tenant_versions[tenant])
            return (self._epoch, self._thread_versions[(tenant, thread_id)])

    @property
    def connected(self) -> bool:
        """True while the subscriber is connected (updates arrive live)."""
        return self._connected

    def start(self) -> None:
        """Start the subscriber thread once per process (no-op without Redis)."""
        if not self.url or self._listener is not None:
            return
        with self._lock:
            if self._listener is None and not self._stop.is_set():
                self._listener = threading.Thread(target=self._listen, name="live-updates",
                                                  daemon=True)
                self._listener.start()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the subscriber is connected (for tests and start-up); True if it is."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self._connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._connected

    def close(self) -> None:
        """Stop the subscriber and drop the connections."""
        self._stop.set()
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=LISTEN_SECONDS + CONNECT_SECONDS + 1)
        with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()

    def _record(self, event: ThreadEvent) -> None:
        with self._lock:
            self.received += 1
            self._thread_versions[(event.tenant, event.thread_id)] += 1
            if event.kind not in THREAD_ONLY_KINDS:
                self._tenant_versions[event.tenant] += 1

    def _listen(self) -> None:
        import redis

        delay = BACKOFF_SECONDS[0]
        pattern = glob_escaped(self.prefix) + "events:*"
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = _client(self.url, socket_timeout=None, socket_keepalive=True,
                                 health_check_interval=10)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(pattern)
                pubsub.get_message(timeout=CONNECT_SECONDS)  # the subscription's confirmation
                with self._lock:
                    # A new epoch: whatever was published while away is not known, so every
                    # page following updates reads once more.
                    self._epoch += 1
                    self._connected = True
                delay = BACKOFF_SECONDS[0]
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=LISTEN_SECONDS)
                    if message and message.get("type") == "pmessage":
                        event = ThreadEvent.from_json(message["data"])
                        if event is not None:
                            self._record(event)
            except (redis.RedisError, OSError, ValueError) as exc:
                log.debug("live updates disconnected: %s", exc)
            finally:
                with self._lock:
                    self._connected = False
                for closing in (pubsub, client):
                    if closing is not None:
                        # Already broken: nothing left to release.
                        with contextlib.suppress(Exception):
                            closing.close()
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF_SECONDS[1])
