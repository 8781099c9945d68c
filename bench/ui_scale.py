"""Benchmark: how the UI's render time grows from 10 to 1,000 threads and checkpoints.

Builds three SQLite databases (offline model): "small" gives alice 10 threads, the newest
with about 10 checkpoints; "medium" 250 and 250; "large" 1,000 threads, the newest with over
1,000 checkpoints (about 250 real turns). Then renders pages with Streamlit's AppTest, as a
browser rerun runs them, and reports the median time of several runs per page, the ratio
large / small, and the ratio large / medium (medium already fills every page the UI draws):

    chat, no thread open        the sidebar's thread list (one page of 15) and the pager
    chat, long thread open      the list plus the thread's current messages
    history, timeline           one page (20) of checkpoints and the size chart (200 newest)
    history, checkpoint open    the timeline plus the full state at the newest checkpoint

and, for reference, the façade reads those pages make. A large / medium ratio near 1 means a
page costs the same whatever the totals. Timings on a shared machine are noisy: read the
ratios of one run.

    .venv/bin/python bench/ui_scale.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk
from agent.settings import load_settings
from bench.measure import median_ms
from ui.session import get_desk

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
SCRIPT = ("Where is ORD-1002?", "hello", "My name is Alice", "Thanks!", "list my orders")
# threads, checkpoints in the long thread. "medium" already fills every page the UI draws (15
# threads, 20 timeline rows, 200 chart points), so large / medium isolates the cost of totals.
SIZES = {"small": (10, 10), "medium": (250, 250), "large": (1_000, 1_000)}


def build(path: Path, threads: int, checkpoints: int) -> str:
    """alice with `threads` threads; the newest has at least `checkpoints` checkpoints."""
    with SupportDesk.open(load_settings(saver="sqlite", sqlite_path=path)) as desk:
        alice = desk.user("alice")
        # The thread list reads only the registry: empty registered threads are real entries.
        for number in range(threads - 1):
            desk.threads.create(alice.tenant, alice.user_id, f"Old question {number:04d}")
        long_thread = desk.create_thread("alice", "The long one").thread_id
        turn, written = 0, 0
        while written < checkpoints:
            desk.ask("alice", SCRIPT[turn % len(SCRIPT)], thread_id=long_thread)
            turn += 1
            if turn % 25 == 0 or checkpoints < 100:
                written = len(desk.export_thread("alice", long_thread)["checkpoints"])
        return long_thread


def items_in(result: Any) -> int:
    """How many threads, messages or checkpoints a façade read returned."""
    for name in ("threads", "messages"):
        if hasattr(result, name):
            return len(getattr(result, name))
    return len(result)


def app_for(user_id: str, page: str, **state: Any) -> AppTest:
    """The app signed in as `user_id`, on `page`, with extra session state; run once."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["user_id"] = user_id
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    if page != "chat":
        at.switch_page(f"views/{page}.py")
    return at.run()


def measure(path: Path, long_thread: str, runs: int) -> dict[str, dict[str, float]]:
    """Render times (ms) and how much each page drew, on one database."""
    os.environ["SUPPORT_SQLITE_PATH"] = str(path)
    get_desk.clear()
    desk = get_desk()  # the app's own (cached) desk, also used for the façade timings
    try:
        results: dict[str, dict[str, float]] = {}

        at = app_for("alice", "chat")
        results["chat, no thread open"] = {
            "ms": median_ms(at.run, runs),
            "drawn": sum((b.key or "").startswith("thread-") for b in at.sidebar.button)}

        at = app_for("alice", "chat", thread_id=long_thread)
        results["chat, long thread open"] = {
            "ms": median_ms(at.run, runs), "drawn": len(at.main.chat_message)}

        at = app_for("alice", "history")
        results["history, timeline"] = {
            "ms": median_ms(at.run, runs), "drawn": len(at.dataframe[0].value)}

        key = at.dataframe[0].key
        at.session_state[key] = {"selection": {"rows": [0], "columns": []}}
        at.run()
        assert at.tabs, "selecting a checkpoint did not show its state"
        results["history, checkpoint open"] = {
            "ms": median_ms(at.run, runs), "drawn": len(at.dataframe[0].value)}

        reads = {
            "façade: list_threads (15)": lambda: desk.list_threads("alice", limit=15),
            "façade: view_thread": lambda: desk.view_thread("alice", long_thread),
            "façade: history (20)": lambda: desk.history("alice", long_thread, limit=20),
            "façade: history (200, chart)": lambda: desk.history("alice", long_thread,
                                                                  limit=200),
        }
        for name, read in reads.items():
            results[name] = {"ms": median_ms(read, runs), "drawn": items_in(read())}
        return results
    finally:
        get_desk.clear()
        desk.close()


def ms(value: float) -> str:
    """Milliseconds with two significant decimals for the fast façade reads."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def main() -> None:
    """Build both databases, measure, print a table and write JSON beside this script."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for name in list(os.environ):  # the same isolation as the tests: no developer settings
        if name.startswith(("SUPPORT_", "OPENAI_")):
            del os.environ[name]
    os.environ["SUPPORT_SAVER"] = "sqlite"
    measured: dict[str, dict[str, dict[str, float]]] = {}
    built: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # no .env file from the project
        for size, (threads, checkpoints) in SIZES.items():
            path = Path(tmp) / f"{size}.db"
            started = time.perf_counter()
            long_thread = build(path, threads, checkpoints)
            with SupportDesk.open(load_settings(sqlite_path=path)) as desk:
                built[size] = {
                    "threads": desk.list_threads("alice", limit=1).total,
                    "checkpoints": len(desk.export_thread("alice", long_thread)["checkpoints"]),
                    "build_seconds": time.perf_counter() - started}
            measured[size] = measure(path, long_thread, args.runs)

    rows = [{"what": what,
             **{f"{size}_ms": measured[size][what]["ms"] for size in SIZES},
             "large_vs_small": measured["large"][what]["ms"] / measured["small"][what]["ms"],
             "large_vs_medium": measured["large"][what]["ms"] / measured["medium"][what]["ms"],
             **{f"drawn_{size}": measured[size][what]["drawn"] for size in SIZES}}
            for what in measured["small"]]
    table = Table("page / read", *(f"{size} ms" for size in SIZES), "large / small",
                  "large / medium", "items drawn (s / m / l)",
                  title=" · ".join(f"{size}: {built[size]['threads']:.0f} threads, "
                                   f"{built[size]['checkpoints']:.0f} checkpoints"
                                   for size in SIZES) + f" · median of {args.runs} runs")
    for r in rows:
        table.add_row(r["what"], *(ms(r[f"{size}_ms"]) for size in SIZES),
                      f"{r['large_vs_small']:.2f}x", f"{r['large_vs_medium']:.2f}x",
                      " / ".join(f"{r[f'drawn_{size}']:.0f}" for size in SIZES))
    Console(width=150).print(table)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "ui_scale.json").write_text(json.dumps(
        {"runs": args.runs, "databases": built, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
