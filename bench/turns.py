"""One scripted conversation on one saver, per variant: stock, project, retention, compression.

Every turn records its latency, the process's CPU time and how many checkpoints were written;
every `sample_every` turns the latest checkpoint's size and the database's size; on PostgreSQL,
every window of turns, the server's transactions and rows read and the client's statements.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.service import SupportDesk
from agent.settings import Settings, load_settings
from bench.measure import PutCounter, memory_saver_bytes, sqlite_bytes
from bench.pg import (
    ServerStats,
    StatementCounter,
    bench_database,
    connection_flusher,
    pool_flusher,
)
from bench.stock import ProjectFloor, StockFloor, StockTurns, stock_saver

# A support conversation: small talk, order lookups (tool calls), policy questions, a stated
# name and preference (remembered), as bench/conversation.py runs it.
SCRIPT = (
    "My name is Alice", "Where is ORD-1002?", "list my orders", "What is your return policy?",
    "Thanks!", "How long does shipping take?", "Where is ORD-1001?", "hello",
    "Keep answers short please", "What's my name?",
)
VARIANTS = ("stock", "project", "retention", "compression")
RETENTION_KEEP = 50
GC_EVERY = 50
WINDOW = 50


@dataclass
class RunPlan:
    """How long the conversation is and how often the slower measurements are taken."""

    turns: int
    sample_every: int
    admin_url: str
    window: int = WINDOW


def window_for(turns: int) -> int:
    """Turns per PostgreSQL window: 50, or half of a conversation shorter than 100 turns."""
    return WINDOW if turns >= 2 * WINDOW else max(1, turns // 2)


def message(turn: int) -> str:
    """The customer's message at (1-based) `turn`."""
    return SCRIPT[(turn - 1) % len(SCRIPT)]


def project_settings(variant: str, saver: str, **where: Any) -> Settings:
    """The project's settings for a variant: defaults, retention K=50, or compression.

    Retention, compression, encryption and Redis are set explicitly either way, so a
    developer's environment cannot change what the default run measures (SUPPORT_REDIS_URL
    would move PostgreSQL's thread locks to Redis, off the lean path).
    """
    return load_settings(
        saver=saver, seed_demo=True, **where,
        retention_keep_checkpoints=RETENTION_KEEP if variant == "retention" else "",
        compress_checkpoints=variant == "compression", encryption_key="",
        redis_url="", live_redis_url="")


class _Subject:
    """What a variant's run needs: one turn, the head state's size, the database's size."""

    turn: Callable[[str], None]
    state_bytes: Callable[[], int]
    db_bytes: Callable[[], int | None]
    saver: Any
    flushers: list[Callable[[], int]]
    collect_garbage: Callable[[], Any] | None = None


@contextlib.contextmanager
def _stock_subject(saver_kind: str, settings: Settings, path: Path,
                   url: str) -> Iterator[_Subject]:
    with stock_saver(saver_kind, sqlite_path=path, postgres_url=url) as saver:
        stock = StockTurns(saver, settings)
        subject = _Subject()
        subject.turn = stock.turn
        subject.saver = saver
        subject.state_bytes = lambda: len(saver.serde.dumps_typed(stock.state_values())[1])
        subject.db_bytes = _db_bytes(saver_kind, saver, path)
        subject.flushers = ([connection_flusher(saver.conn, saver.lock)]
                            if saver_kind == "postgres" else [])
        yield subject


@contextlib.contextmanager
def _project_subject(saver_kind: str, settings: Settings, path: Path) -> Iterator[_Subject]:
    with SupportDesk.open(settings) as desk:
        thread = desk.create_thread("alice").thread_id
        saver = desk.persistence.checkpointer
        subject = _Subject()
        subject.turn = lambda text: desk.ask("alice", text, thread_id=thread)
        subject.saver = saver
        subject.state_bytes = lambda: len(
            saver.serde.dumps_typed(desk.turns.state(thread).values)[1])
        subject.db_bytes = _db_bytes(saver_kind, saver, path)
        subject.flushers = []
        if saver_kind == "postgres":
            subject.flushers.append(pool_flusher(desk.persistence.db.pool))
            lock_pool = getattr(desk.persistence.locks, "pool", None)
            if lock_pool is not None:
                subject.flushers.append(pool_flusher(lock_pool))
        gc = getattr(desk, "collect_garbage", None)
        subject.collect_garbage = gc if callable(gc) else None
        yield subject


def _db_bytes(saver_kind: str, saver: Any, path: Path) -> Callable[[], int | None]:
    if saver_kind == "sqlite":
        return lambda: sqlite_bytes(path)
    if saver_kind == "memory":
        return lambda: memory_saver_bytes(saver)
    return lambda: None  # PostgreSQL: read with the server counters


def run_variant(saver_kind: str, variant: str, plan: RunPlan,
                advance: Callable[[int], None]) -> dict[str, Any]:
    """Run the conversation for one saver and variant; `advance(1)` after every turn."""
    with tempfile.TemporaryDirectory(prefix="sa-bench-") as tmp, contextlib.ExitStack() as stack:
        path = Path(tmp) / "bench.db"
        url = stack.enter_context(bench_database(plan.admin_url)) \
            if saver_kind == "postgres" else plan.admin_url
        settings = project_settings(variant, saver_kind, sqlite_path=path, postgres_url=url)
        if variant == "stock":
            subject = stack.enter_context(_stock_subject(saver_kind, settings, path, url))
        else:
            subject = stack.enter_context(_project_subject(saver_kind, settings, path))
        return _converse(subject, saver_kind, variant, plan, url, advance)


def _converse(subject: _Subject, saver_kind: str, variant: str, plan: RunPlan, url: str,
              advance: Callable[[int], None]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "saver": saver_kind, "variant": variant, "turns": plan.turns,
        "latency_ms": [], "cpu_ms": [], "checkpoints": [], "samples": [], "windows": [],
        "gc": None}
    if variant == "retention":
        result["gc"] = [] if subject.collect_garbage else "n/a"
    stats = ServerStats(url) if saver_kind == "postgres" else None
    with contextlib.ExitStack() as stack:
        puts = stack.enter_context(PutCounter(subject.saver))
        if stats is not None:
            stack.callback(stats.close)
            counter = stack.enter_context(StatementCounter())
            last = stats.read(subject.flushers)
            last_statements = counter.snapshot()
        for turn in range(1, plan.turns + 1):
            before_puts = puts.count
            cpu, started = time.process_time(), time.perf_counter()
            subject.turn(message(turn))
            result["latency_ms"].append((time.perf_counter() - started) * 1000)
            result["cpu_ms"].append((time.process_time() - cpu) * 1000)
            result["checkpoints"].append(puts.count - before_puts)
            if variant == "retention" and subject.collect_garbage and turn % GC_EVERY == 0:
                result["gc"].append(_collect(subject.collect_garbage, turn))
            window_end = turn % plan.window == 0 or turn == plan.turns
            db_bytes = None
            if stats is not None and window_end:
                now = stats.read(subject.flushers)
                delta = stats.window(last, now)
                statements = counter.snapshot()
                done = len(result["latency_ms"]) - sum(w["turns"] for w in result["windows"])
                result["windows"].append({
                    "last_turn": turn, "turns": done,
                    "transactions": delta.transactions, "rows_read": delta.rows_read,
                    "statements": statements[0] - last_statements[0],
                    "empty_health_checks": statements[1] - last_statements[1]})
                last, last_statements, db_bytes = now, statements, now.database_bytes
            if turn == 1 or turn % plan.sample_every == 0 or turn == plan.turns or window_end:
                if db_bytes is None:
                    db_bytes = subject.db_bytes()
                result["samples"].append({"turn": turn, "state_bytes": subject.state_bytes(),
                                          "db_bytes": db_bytes})
            advance(1)
    return result


def _collect(collect_garbage: Callable[[], Any], turn: int) -> dict[str, Any]:
    """Run the desk's garbage collection once; its time and what it reported."""
    started = time.perf_counter()
    try:
        report = collect_garbage()
        error = None
    except Exception as exc:  # recorded, not fatal: another helper is still building it
        report, error = None, f"{type(exc).__name__}: {exc}"
    return {"turn": turn, "ms": (time.perf_counter() - started) * 1000,
            "report": repr(report)[:300] if report is not None else None, "error": error}


def run_isolated(saver_kind: str, variant: str, plan: RunPlan,
                 advance: Callable[[int], None]) -> dict[str, Any]:
    """`run_variant` in a process of its own: no state, patch or memory carries over between
    variants, and a variant that crashes (a segfault in a C extension) is recorded as failed
    instead of ending the whole suite."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child = context.Process(target=_child, args=(saver_kind, variant, plan, messages))
    child.start()
    outcome: dict[str, Any] | None = None
    while outcome is None:
        try:
            kind, value = messages.get(timeout=1.0)
        except queue.Empty:
            if child.exitcode is not None:
                outcome = {"saver": saver_kind, "variant": variant,
                           "error": f"the run's process died (exit code {child.exitcode})"}
            continue
        if kind == "tick":
            advance(value)
        elif kind == "result":
            outcome = value
        else:
            outcome = {"saver": saver_kind, "variant": variant, "error": value}
    child.join(timeout=60)
    return outcome


def _child(saver_kind: str, variant: str, plan: RunPlan, messages: Any) -> None:
    """The isolated run: progress ticks and the result (or the error) go back on `messages`."""
    try:
        result = run_variant(saver_kind, variant, plan, lambda n: messages.put(("tick", n)))
        messages.put(("result", result))
    except Exception as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))


def run_floor(graph: str, turns: int, advance: Callable[[int], None]) -> dict[str, Any]:
    """The graph with no checkpointer, the whole history passed in each turn."""
    settings = load_settings(saver="memory")
    floor = StockFloor(settings) if graph == "stock" else ProjectFloor(settings)
    latency, cpu_times = [], []
    try:
        for turn in range(1, turns + 1):
            cpu, started = time.process_time(), time.perf_counter()
            floor.turn(message(turn))
            latency.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu) * 1000)
            advance(1)
    finally:
        if isinstance(floor, ProjectFloor):
            floor.close()
    return {"graph": graph, "turns": turns, "latency_ms": latency, "cpu_ms": cpu_times}
