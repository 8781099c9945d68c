"""Benchmark: cost of a long support conversation on each saver, and how big its state stays.

Runs the same scripted 300-turn conversation (offline model) on memory, SQLite and PostgreSQL,
with summarising on (the default) and off (pruning alone), and reports per saver:
milliseconds per turn, checkpoints per turn, and the latest checkpoint's size at turns 30 and
300. Timings on a shared machine are noisy: read the ratios between rows of one run.

    .venv/bin/python bench/conversation.py [--turns 300] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from agent.service import SupportDesk
from agent.settings import load_settings

SCRIPT = (
    "My name is Alice", "Where is ORD-1002?", "list my orders", "What is your return policy?",
    "Thanks!", "How long does shipping take?", "Where is ORD-1001?", "hello",
    "Keep answers short please", "What's my name?",
)


def run(saver: str, turns: int, summarise: bool, admin_url: str) -> dict:
    """One conversation; returns the measurements."""
    overrides = {} if summarise else {"summary_trigger_messages": 0}
    with tempfile.TemporaryDirectory() as tmp:
        database = None
        if saver == "postgres":
            database = f"sa_bench_{secrets.token_hex(4)}"
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {database}")
            overrides["postgres_url"] = admin_url.rsplit("/", 1)[0] + "/" + database
            overrides["seed_demo"] = True  # a new PostgreSQL database is not seeded by itself
        settings = load_settings(saver=saver, sqlite_path=Path(tmp) / "bench.db", **overrides)
        try:
            with SupportDesk.open(settings) as desk:
                thread = desk.create_thread("alice").thread_id
                durations, sizes = [], {}
                for turn in range(1, turns + 1):
                    started = time.perf_counter()
                    desk.ask("alice", SCRIPT[(turn - 1) % len(SCRIPT)], thread_id=thread)
                    durations.append(time.perf_counter() - started)
                    if turn in (30, turns):
                        sizes[turn] = desk.history("alice", thread, limit=1)[0].size_bytes
                checkpoints = len(desk.export_thread("alice", thread)["checkpoints"])
        finally:
            if database:
                with psycopg.connect(admin_url, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return {
        "saver": saver, "summarise": summarise, "turns": turns,
        "ms_per_turn_median": statistics.median(durations) * 1000,
        "ms_per_turn_p95": sorted(durations)[int(len(durations) * 0.95)] * 1000,
        "checkpoints_per_turn": checkpoints / turns,
        "bytes_at_30": sizes[30], f"bytes_at_{turns}": sizes[turns],
        "growth": sizes[turns] / sizes[30],
    }


def main() -> None:
    """Run every combination and print a table (and JSON beside this script)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows = [run(saver, args.turns, summarise, args.postgres_url)
            for summarise in (True, False) for saver in ("memory", "sqlite", "postgres")]
    base = {r["summarise"]: r["ms_per_turn_median"] for r in rows if r["saver"] == "memory"}
    table = Table("saver", "summarise", "ms/turn (median)", "p95", "vs memory", "checkpoints/turn",
                  "bytes @30", f"bytes @{args.turns}", "growth")
    for r in rows:
        table.add_row(r["saver"], "on" if r["summarise"] else "off",
                      f"{r['ms_per_turn_median']:.1f}", f"{r['ms_per_turn_p95']:.1f}",
                      f"{r['ms_per_turn_median'] / base[r['summarise']]:.1f}x",
                      f"{r['checkpoints_per_turn']:.2f}", f"{r['bytes_at_30']:,}",
                      f"{r[f'bytes_at_{args.turns}']:,}", f"{r['growth']:.2f}x")
    Console().print(table)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "conversation.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
