"""A Redis hot cache for what the UI reads on every rerun of an open thread: its head view.

Measured first (bench/cache.py, docs/benchmarks.md): on PostgreSQL a cache hit makes the head
view of a 30-turn thread 2.6x faster, so it is kept; the thread list, 1.3x, is not cached.
What keeps it correct:

- A head view is stored with the registry row it was read under (status, time, title); the
  row is read anyway for the access check, and any turn moves it, so a view is served only
  while it is still the thread's truth, event or no event. Views of running threads are not
  stored.
- Entries expire after TTL_SECONDS: the bound for writers that publish nothing (a process
  configured without Redis, a retention sweep).
- Redis may go away at any time: every operation falls back to the database, never raises.
  A stale entry that could not be dropped leaves the cache suspect, so the first thing
  done once Redis answers again is to drop this cache's keys.

Values are pickled and signed: each carries an HMAC under a key kept in the database
(`support_secrets`), and a value whose signature does not match is a miss, never unpickled.
So whoever can write to Redis (but not to the database) cannot make the app build objects of
their choosing, the same promise the checkpoints' restricted serializer keeps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import threading
import time
from typing import Any

from agent.service.events import glob_escaped

log = logging.getLogger(__name__)

TTL_SECONDS = 60
CONNECT_SECONDS = 0.5
PAUSE_SECONDS = 1.0  # after a failure, go straight to the database this long
_SIGNATURE_BYTES = hashlib.sha256().digest_size


class HotCache:
    """Get, put and forget pickled values under a key prefix; quiet when Redis is away."""

    def __init__(self, url: str | None, prefix: str, signing_key: bytes):
        self.url = url
        self._signing_key = signing_key
        # Beside the key prefix, not under it: everything under it is a lock (its keys must be
        # gone once turns end), and cache entries are disposable, expiring on their own.
        self.prefix = f"hot-cache:{prefix}"
        self._client = None
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._suspect = False

    @property
    def enabled(self) -> bool:
        """True when a Redis URL is configured."""
        return bool(self.url)

    def key(self, *parts: str) -> str:
        """A key of this cache."""
        return self.prefix + ":".join(parts)

    def get(self, key: str) -> Any | None:
        """The value stored under `key`, or None (missing, or Redis away)."""
        data = self._call(lambda client: client.get(key))
        if data is None or len(data) < _SIGNATURE_BYTES:
            return None
        signature, payload = data[:_SIGNATURE_BYTES], data[_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(key, payload)):
            log.warning("hot cache: %s has a bad signature; ignored", key)
            return None  # not written by this app: never unpickled
        try:
            return pickle.loads(payload)
        except Exception:  # written by another version of the app: a miss
            return None

    def put(self, key: str, value: Any) -> None:
        """Store a value (it expires after TTL_SECONDS)."""
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        data = self._sign(key, payload) + payload
        self._call(lambda client: client.set(key, data, ex=TTL_SECONDS))

    def _sign(self, key: str, payload: bytes) -> bytes:
        # The key is signed too: a valid entry moved under another key is still refused.
        return hmac.new(self._signing_key, key.encode() + b"\0" + payload,
                        hashlib.sha256).digest()

    def forget(self, *keys: str) -> None:
        """Drop stale entries; a failure makes the whole cache suspect (dropped once Redis
        answers again), since a reader might be served what this change made stale."""
        if self._call(lambda client: client.delete(*keys) >= 0) is None:
            self._suspect = True

    def close(self) -> None:
        """Drop the connection."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _call(self, operation: Any) -> Any | None:
        if not self.url or time.monotonic() < self._paused_until:
            return None
        import redis

        try:
            client = self._connection()
            if self._suspect:
                self._drop_all(client)
            return operation(client)
        except (redis.RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            log.debug("hot cache unavailable: %s", exc)
            return None

    def _connection(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                self._client = redis.Redis.from_url(
                    self.url, socket_connect_timeout=CONNECT_SECONDS,
                    socket_timeout=CONNECT_SECONDS, retry=Retry(NoBackoff(), 0))
            return self._client

    def _drop_all(self, client: Any) -> None:
        pattern = glob_escaped(self.prefix) + "*"
        keys = list(client.scan_iter(match=pattern, count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        self._suspect = False
