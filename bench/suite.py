"""`support-agent bench`: every benchmark in one run, raw figures to JSON, a report and plots."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.cache import hot_cache, redis_reachable
from bench.report import markdown, plots, summarise_run, targets
from bench.scale import history_depth, thread_listing
from bench.throughput import throughput
from bench.turns import VARIANTS, RunPlan, run_floor, run_isolated, window_for

SAVERS = ("memory", "sqlite", "postgres")
RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS_PER_TURN = 5  # for the progress estimate of the history-depth threads


@dataclass
class BenchOptions:
    """Sizes of one run; `quick` picks the small defaults."""

    quick: bool = False
    turns: int | None = None
    savers: tuple[str, ...] = SAVERS
    out: Path = RESULTS
    threads: int | None = None
    depths: tuple[int, int] | None = None
    throughput_seconds: float | None = None
    runs: int | None = None
    admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    processes: tuple[int, ...] = (1, 2)
    redis_url: str = "redis://127.0.0.1:6379/0"  # for the hot-cache measurement (skipped if down)
    sizes: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> BenchOptions:
        """Fill unset sizes from the quick or full defaults."""
        quick = self.quick
        self.turns = self.turns or (150 if quick else 1000)
        self.threads = self.threads or (10_000 if quick else 100_000)
        self.depths = self.depths or ((100, 2000) if quick else (100, 10_000))
        self.throughput_seconds = self.throughput_seconds or (6.0 if quick else 30.0)
        self.runs = self.runs or (5 if quick else 15)
        return self


def run_bench(options: BenchOptions, console: Console,
              report_to: Console | None = None) -> dict[str, Any]:
    """Run everything (progress on `console`), write latest.json, latest.md and the plots,
    print the markdown report (on `report_to`); return the results."""
    options.resolve()
    options.out.mkdir(parents=True, exist_ok=True)
    plan = RunPlan(turns=options.turns, sample_every=max(1, min(10, options.turns // 15)),
                   admin_url=options.admin_url, window=window_for(options.turns))
    scaled = [s for s in options.savers if s in ("sqlite", "postgres")]
    depth_turns = options.depths[1] // CHECKPOINTS_PER_TURN + 1
    total = (len(options.savers) * len(VARIANTS) * options.turns + 2 * options.turns
             + 3 * len(scaled) + depth_turns * len(options.savers)
             + (len(options.processes) if "postgres" in options.savers else 0))
    started = time.perf_counter()
    result: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(options), "settings": settings_of(options),
        "conversation": [], "floors": {}, "thread_listing": [], "history_depth": [],
        "throughput": None, "failed": []}
    with Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  transient=False) as progress:
        task = progress.add_task("starting", total=total)

        def advance(step: int) -> None:
            progress.advance(task, step)

        def phase(text: str) -> None:
            progress.update(task, description=text)

        for graph in ("stock", "project"):
            phase(f"floor: {graph} graph, no checkpointer")
            result["floors"][graph] = run_floor(graph, options.turns, advance)
        for saver in options.savers:
            for variant in VARIANTS:
                phase(f"conversation: {saver} / {variant}")
                run = run_isolated(saver, variant, plan, advance)
                if "error" in run:
                    progress.console.print(f"[red]{saver} / {variant} failed:[/] {run['error']}")
                    result["failed"].append(run)
                else:
                    result["conversation"].append(run)
        for saver in scaled:
            phase(f"thread page among {options.threads:,}: {saver}")
            result["thread_listing"].append(
                thread_listing(saver, options.threads, options.admin_url, options.runs, advance))
        for saver in options.savers:
            phase(f"history depth {options.depths[1]:,}: {saver}")
            result["history_depth"].append(
                history_depth(saver, options.depths, options.admin_url, options.runs, advance))
        if "postgres" in options.savers:
            phase(f"throughput: {', '.join(map(str, options.processes))} processes")
            result["throughput"] = throughput(options.admin_url, options.processes,
                                              options.throughput_seconds, advance)
        if "postgres" in options.savers and redis_reachable(options.redis_url):
            phase("hot cache: PostgreSQL with and without Redis")
            result["hot_cache"] = hot_cache(options.admin_url, options.redis_url, options.runs)
        phase("report and plots")
        result["summary"] = {"conversation": [summarise_run(run, result["floors"])
                                              for run in result["conversation"]]}
        result["targets"] = targets(result)
        result["seconds"] = time.perf_counter() - started
        (options.out / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
        report = markdown(result)
        (options.out / "latest.md").write_text(report)
        result["plots"] = [str(p) for p in plots(result, options.out)]
        progress.update(task, completed=total, description="done")
    (options.out / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    (report_to or console).print(report, markup=False, highlight=False)
    console.print(f"wrote {options.out / 'latest.json'}, latest.md and "
                  f"{len(result['plots'])} plots in {result['seconds']:.0f} s")
    return result


def settings_of(options: BenchOptions) -> dict[str, Any]:
    """The sizes and settings this run used (JSON-ready)."""
    values = asdict(options)
    values["out"] = str(options.out)
    values.pop("sizes")
    values["admin_url"] = _masked(options.admin_url)
    values["variants"] = {
        "stock": "StateGraph(MessagesState), one model node, stock saver, default durability",
        "project": "SupportDesk defaults",
        "retention": "retention_keep_checkpoints=50, collect_garbage() every 50 turns",
        "compression": "compress_checkpoints=True",
        "floor": "each graph compiled without a checkpointer, whole history passed in"}
    values["environment_settings"] = sorted(k for k in os.environ if k.startswith("SUPPORT_"))
    return values


def machine(options: BenchOptions) -> dict[str, Any]:
    """What the figures were measured on."""
    packages = {}
    for name in ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite",
                 "langgraph-checkpoint-postgres", "psycopg", "psycopg-pool"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    info = {"platform": platform.platform(), "python": sys.version.split()[0],
            "cpus": os.cpu_count(), "packages": packages, "postgres": None}
    try:
        load = os.getloadavg()
        info["load_average_at_start"] = [round(v, 2) for v in load]
    except OSError:
        pass
    if "postgres" in options.savers:
        with psycopg.connect(options.admin_url, connect_timeout=5) as conn:
            info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
    return info


def _masked(url: str) -> str:
    from agent.settings import mask_password

    return mask_password(url)
