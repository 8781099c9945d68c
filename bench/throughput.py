"""Turns per second on PostgreSQL with 1 and 2 worker processes, each on its own thread.

Every process opens its own desk on the same bench database, creates its own thread, waits at
a barrier, then runs the scripted conversation until the deadline. Throughput is all turns
finished by all processes divided by the wall time of the window.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

from agent.service import SupportDesk
from bench.pg import bench_database
from bench.turns import message, project_settings

START_TIMEOUT_SECONDS = 120


def _worker(url: str, seconds: float, barrier: Any, results: Any) -> None:
    """One process: open a desk, start a thread, run turns until the shared deadline."""
    try:
        settings = project_settings("project", "postgres", postgres_url=url)
        with SupportDesk.open(settings) as desk:
            thread = desk.create_thread("alice").thread_id
            desk.ask("alice", message(1), thread_id=thread)  # warm: connections, caches
            barrier.wait(timeout=START_TIMEOUT_SECONDS)
            started = time.perf_counter()
            deadline = started + seconds
            turns = 0
            while time.perf_counter() < deadline:
                turns += 1
                desk.ask("alice", message(turns + 1), thread_id=thread)
            results.put({"turns": turns, "seconds": time.perf_counter() - started})
    except Exception as exc:  # reported to the parent, which fails the measurement with it
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def _collect(results: Any, workers: list[Any], timeout: float) -> list[dict[str, Any]]:
    """Every worker's report; a worker that died without one is reported as failed."""
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(reports) < len(workers) and time.monotonic() < deadline:
        try:
            reports.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                reports.append({"error": f"a worker process exited with {dead[0].exitcode}"})
                break
    for worker in workers:
        worker.join(timeout=30)
        if worker.is_alive():
            worker.kill()
    if len(reports) < len(workers):
        reports.append({"error": "a worker sent no result in time"})
    return reports


def throughput(admin_url: str, processes: tuple[int, ...], seconds: float,
               advance: Callable[[int], None]) -> dict[str, Any]:
    """Turns per second for each process count, on one fresh database."""
    context = multiprocessing.get_context("spawn")  # no pool or lock inherited by a child
    rows = []
    with bench_database(admin_url) as url:
        # Migrate and seed once, so the timed processes only open the ready database.
        with SupportDesk.open(project_settings("project", "postgres", postgres_url=url)):
            pass
        for count in processes:
            barrier = context.Barrier(count)
            results = context.Queue()
            workers = [context.Process(target=_worker, args=(url, seconds, barrier, results))
                       for _ in range(count)]
            for worker in workers:
                worker.start()
            reports = _collect(results, workers, START_TIMEOUT_SECONDS + seconds + 60)
            errors = [r["error"] for r in reports if "error" in r]
            if errors:
                raise RuntimeError(f"throughput worker failed: {errors[0]}")
            turns = sum(r["turns"] for r in reports)
            wall = max(r["seconds"] for r in reports)
            rows.append({"processes": count, "turns": turns, "seconds": wall,
                         "turns_per_second": turns / wall})
            advance(1)
    one = next((r["turns_per_second"] for r in rows if r["processes"] == 1), None)
    for row in rows:
        row["vs_one"] = row["turns_per_second"] / one if one else None
    return {"saver": "postgres", "seconds_per_run": seconds, "runs": rows}
