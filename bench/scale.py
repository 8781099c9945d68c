"""Reads that must not grow with totals: a page of threads, a page of history, the head state.

Thread page: the project's registry page (`desk.list_threads`) against the saver's own scan
for the same page (`checkpointer.list(None, filter={"user_id": ...}, limit=15)`), among many
threads created in bulk (registry rows and one checkpoint each, written with executemany or
COPY in the saver's table layout), for a user with 1% of them and for one with half.

History depth: the first history page and `get_state` on a thread with a few checkpoints, and
again once the same thread has many (real turns; no ANALYZE is run).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.base import empty_checkpoint

from agent.persistence.threads import new_thread_id
from agent.service import SupportDesk
from agent.turns import thread_config
from bench.measure import PutCounter, median_ms
from bench.pg import bench_database
from bench.turns import message, project_settings

PAGE = 15
# Checkpoints per bulk-made thread: a short real conversation (about 4 turns at 5 steps each).
# With one each, the saver's scan would find a page in its newest 15 rows, which no real
# thread allows: it must read past every thread's steps to see 15 different threads.
CHECKPOINTS_PER_THREAD = 20
HISTORY_PAGE = 20
# Who owns the bulk threads: the user measured with a small share, the one with half, and the
# rest spread over the other demo customers.
SMALL_OWNER, BIG_OWNER = ("bob", "acme"), ("alice", "acme")
OTHERS = (("carol", "acme"), ("dave", "globex"), ("erin", "globex"))


@contextlib.contextmanager
def _desk(saver_kind: str, admin_url: str) -> Iterator[SupportDesk]:
    with tempfile.TemporaryDirectory(prefix="sa-bench-") as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(bench_database(admin_url)) \
            if saver_kind == "postgres" else admin_url
        settings = project_settings("project", saver_kind, sqlite_path=Path(tmp) / "bench.db",
                                    postgres_url=url)
        yield stack.enter_context(SupportDesk.open(settings))


def owners(total: int) -> list[tuple[str, str]]:
    """(user, tenant) of each bulk thread, oldest first: 1% bob, 50% alice, the rest others."""
    result = []
    for number in range(total):
        if number % 100 == 0:
            result.append(SMALL_OWNER)
        elif number % 2 == 1:
            result.append(BIG_OWNER)
        else:
            result.append(OTHERS[number % len(OTHERS)])
    return result


def _rows(desk: SupportDesk, total: int) -> tuple[list[tuple], list[tuple]]:
    """Registry rows and checkpoint rows (the saver's own layout) for `total` threads."""
    serde = desk.persistence.checkpointer.serde
    started = time.time() - total
    registry, checkpoints = [], []
    for number, (user, tenant) in enumerate(owners(total)):
        thread = new_thread_id()
        at = started + number  # oldest first, one second apart: the same order both ways
        registry.append((thread, tenant, user, f"Bulk question {number}", "active", at, at))
        parent = None
        for step in range(CHECKPOINTS_PER_THREAD):
            checkpoint = empty_checkpoint()  # ids grow with time: the newest thread sorts last
            metadata = {"source": "loop", "step": step, "parents": {}, "user_id": user,
                        "tenant": tenant}
            if desk.persistence.kind == "sqlite":
                kind, blob = serde.dumps_typed(checkpoint)
                checkpoints.append((thread, "", checkpoint["id"], parent, kind, blob,
                                    json.dumps(metadata).encode()))
            else:
                checkpoints.append((thread, "", checkpoint["id"], parent,
                                    json.dumps(checkpoint), json.dumps(metadata)))
            parent = checkpoint["id"]
    return registry, checkpoints


REGISTRY_COLUMNS = "thread_id, tenant, user_id, title, status, created_at, updated_at"


def bulk_create(desk: SupportDesk, total: int, sqlite_path: Path | None, url: str) -> float:
    """Create `total` threads cheaply; returns the seconds it took."""
    started = time.perf_counter()
    registry, checkpoints = _rows(desk, total)
    if desk.persistence.kind == "sqlite":
        conn = sqlite3.connect(str(sqlite_path), timeout=30)
        try:
            with conn:
                conn.executemany(f"INSERT INTO support_threads ({REGISTRY_COLUMNS}) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", registry)
                conn.executemany(
                    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                    "parent_checkpoint_id, type, checkpoint, metadata) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", checkpoints)
        finally:
            conn.close()
    else:
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY support_threads ({REGISTRY_COLUMNS}) FROM STDIN") as copy:
                for row in registry:
                    copy.write_row(row)
            with cur.copy("COPY checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                          "parent_checkpoint_id, checkpoint, metadata) FROM STDIN") as copy:
                for row in checkpoints:
                    copy.write_row(row)
    return time.perf_counter() - started


def saver_page(desk: SupportDesk, user: str) -> list[str]:
    """The user's newest threads as the saver alone can find them: a metadata-filtered scan
    of their newest checkpoints, as many as 15 threads of this depth take, de-duplicated."""
    found: list[str] = []
    for saved in desk.persistence.checkpointer.list(
            None, filter={"user_id": user}, limit=PAGE * CHECKPOINTS_PER_THREAD):
        thread = saved.config["configurable"]["thread_id"]
        if thread not in found:
            found.append(thread)
    return found[:PAGE]


def thread_listing(saver_kind: str, total: int, admin_url: str, runs: int,
                   advance: Callable[[int], None]) -> dict[str, Any]:
    """Registry page against the saver's scan, for a small and a big owner."""
    with _desk(saver_kind, admin_url) as desk:
        url = desk.settings.postgres_url
        seconds = bulk_create(desk, total, desk.settings.sqlite_path, url)
        advance(1)
        users = {}
        for label, (user, _tenant) in (("1% owner", SMALL_OWNER), ("half owner", BIG_OWNER)):
            registry_ids = [t.thread_id for t in desk.list_threads(user, limit=PAGE).threads]
            scan_ids = saver_page(desk, user)
            registry_ms = median_ms(lambda u=user: desk.list_threads(u, limit=PAGE), runs)
            scan_ms = median_ms(lambda u=user: saver_page(desk, u), max(3, runs // 3))
            users[label] = {
                "user": user, "owns": desk.list_threads(user, limit=1).total,
                "registry_ms": registry_ms, "saver_scan_ms": scan_ms,
                "speedup": scan_ms / registry_ms if registry_ms else None,
                "same_page": registry_ids == scan_ids, "page_size": len(registry_ids)}
            advance(1)
    return {"saver": saver_kind, "threads": total, "bulk_create_seconds": seconds,
            "users": users}


def history_depth(saver_kind: str, depths: tuple[int, int], admin_url: str, runs: int,
                  advance: Callable[[int], None]) -> dict[str, Any]:
    """First history page and get_state at a shallow and a deep point of one thread."""
    measured = {}
    with _desk(saver_kind, admin_url) as desk:
        thread = desk.create_thread("alice").thread_id
        config = thread_config(thread)
        turn = 0
        with PutCounter(desk.persistence.checkpointer) as puts:
            for depth in depths:
                while puts.count < depth:
                    turn += 1
                    desk.ask("alice", message(turn), thread_id=thread)
                    advance(1)
                measured[str(depth)] = {
                    "checkpoints": puts.count, "turns": turn,
                    "history_page_ms": median_ms(
                        lambda: desk.history("alice", thread, limit=HISTORY_PAGE), runs),
                    "get_state_ms": median_ms(lambda: desk.graph.get_state(config), runs)}
    shallow, deep = (measured[str(d)] for d in depths)
    return {"saver": saver_kind, "depths": list(depths), "at": measured,
            "history_ratio": deep["history_page_ms"] / shallow["history_page_ms"],
            "get_state_ratio": deep["get_state_ms"] / shallow["get_state_ms"]}
