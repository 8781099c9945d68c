"""Small measuring helpers: percentiles, sizes on disk and in memory, a put counter."""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which `fraction` of `values` lie (nearest rank); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median_ms(action: Callable[[], Any], runs: int) -> float:
    """Median wall time of `action` in milliseconds, after one warm-up call."""
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def sqlite_bytes(path: Path) -> int:
    """The SQLite file plus its write-ahead log, the log first written back into the file.

    The log grows to about 4 MB between SQLite's own automatic checkpoints and then starts
    over, so without writing it back a reading would swing by megabytes with where in that
    cycle it fell, whatever the data (the same for every variant measured)."""
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(str(path), timeout=5)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


def memory_saver_bytes(saver: Any) -> int:
    """Serialised bytes an InMemorySaver holds (checkpoints, channel blobs, pending writes)."""
    total = 0
    for namespaces in list(saver.storage.values()):
        for checkpoints in list(namespaces.values()):
            total += sum(_bytes_in(saved) for saved in list(checkpoints.values()))
    total += sum(_bytes_in(blob) for blob in list(saver.blobs.values()))
    for writes in list(saver.writes.values()):
        total += sum(_bytes_in(write) for write in list(writes.values()))
    return total


def _bytes_in(value: Any) -> int:
    """Lengths of every bytes object in nested tuples (the saver's (type, bytes) pairs)."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_bytes_in(item) for item in value)
    return 0


class PutCounter:
    """Counts checkpoints written by every saver of the given saver's class, while in `with`.

    The class's `put` is wrapped rather than the instance's, since the project may write a
    turn's checkpoints through another saver of the same class (one on the lock's session).
    """

    def __init__(self, saver: BaseCheckpointSaver):
        self.count = 0
        self._lock = threading.Lock()
        self._cls = type(saver)
        self._own = self._cls.__dict__.get("put")

    def __enter__(self) -> PutCounter:
        original = self._cls.put

        def put(saver: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.count += 1
            return original(saver, *args, **kwargs)

        self._cls.put = put  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._cls.put = self._own  # type: ignore[method-assign]
        else:
            del self._cls.put
