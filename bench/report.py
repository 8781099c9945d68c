"""Figures and targets from the raw measurements; the markdown report; the plots."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.measure import percentile

EDGE = 50  # turns compared at the start and the end of the conversation


def _p(values: list[float], fraction: float) -> float | None:
    return percentile(values, fraction)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _bytes_at(samples: list[dict[str, Any]], turn: int, key: str) -> int | None:
    """The sampled value at the last sample at or before `turn`."""
    found = None
    for sample in samples:
        if sample["turn"] <= turn and sample[key] is not None:
            found = sample[key]
    return found


def reference_turn(turns: int) -> int:
    """The turn retention is compared against: 100 (of 1,000), or earlier in a short run.

    Always a window end, where PostgreSQL's size is read (see `bench.turns.window_for`).
    """
    if turns >= 200:
        return 100
    return 50 if turns >= 100 else max(1, turns // 2)


def summarise_run(run: dict[str, Any], floors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures of one saver x variant conversation."""
    latency, cpu = run["latency_ms"], run["cpu_ms"]
    edge = min(EDGE, max(1, len(latency) // 3))
    first, last = latency[:edge], latency[-edge:]
    samples = run["samples"]
    turns = run["turns"]
    ref = reference_turn(turns)
    db_ref, db_last = (_bytes_at(samples, t, "db_bytes") for t in (ref, turns))
    # PostgreSQL's size is read at window ends only: growth counts from the first reading.
    measured = next((s for s in samples if s["db_bytes"] is not None), None)
    db_first, first_turn = (measured["db_bytes"], measured["turn"]) if measured else (None, 1)
    floor = floors.get("stock" if run["variant"] == "stock" else "project")
    floor_p50 = _p(floor["latency_ms"], 0.5) if floor else None
    summary: dict[str, Any] = {
        "saver": run["saver"], "variant": run["variant"], "turns": turns,
        "p50_ms": _p(latency, 0.5), "p95_ms": _p(latency, 0.95),
        "first_turns": f"1-{edge}", "last_turns": f"{turns - edge + 1}-{turns}",
        "first_p50_ms": _p(first, 0.5), "first_p95_ms": _p(first, 0.95),
        "last_p50_ms": _p(last, 0.5), "last_p95_ms": _p(last, 0.95),
        "cpu_ms_per_turn": statistics.mean(cpu) if cpu else None,
        "checkpoints_per_turn": sum(run["checkpoints"]) / turns if turns else None,
        "state_bytes_last": _bytes_at(samples, turns, "state_bytes"),
        "reference_turn": ref, "db_bytes_ref": db_ref, "db_bytes_last": db_last,
        "db_bytes_per_turn": (db_last - db_first) / (turns - first_turn)
        if db_last is not None and db_first is not None and turns > first_turn else None,
        "floor_p50_ms": floor_p50,
        "persistence_overhead_ms": _p(latency, 0.5) - floor_p50 if floor_p50 is not None
        else None,
        "gc": run.get("gc"),
    }
    summary["last_vs_first_p50"] = _ratio(summary["last_p50_ms"], summary["first_p50_ms"])
    summary["last_vs_first_p95"] = _ratio(summary["last_p95_ms"], summary["first_p95_ms"])
    summary["db_last_vs_ref"] = _ratio(db_last, db_ref)
    windows = run.get("windows") or []
    if windows:
        done = sum(w["turns"] for w in windows)
        summary.update({
            "transactions_per_turn": sum(w["transactions"] for w in windows) / done,
            "statements_per_turn": sum(w["statements"] for w in windows) / done,
            "empty_health_checks_per_turn":
                sum(w["empty_health_checks"] for w in windows) / done,
            "rows_read_per_turn": sum(w["rows_read"] for w in windows) / done,
            "rows_read_per_turn_by_window": [w["rows_read"] / w["turns"] for w in windows],
            "transactions_per_turn_by_window": [w["transactions"] / w["turns"]
                                                for w in windows],
        })
        full = [w for w in windows if w["turns"] == windows[0]["turns"]] or windows
        summary["rows_read_last_vs_first_window"] = _ratio(
            full[-1]["rows_read"] / full[-1]["turns"], full[0]["rows_read"] / full[0]["turns"])
    return summary


def _target(name: str, where: str, measured: float | None, limit: float, *,
            at_least: bool = False, unit: str = "x", note: str = "") -> dict[str, Any]:
    met = None if measured is None else (measured >= limit if at_least else measured <= limit)
    return {"target": name, "where": where, "measured": measured, "unit": unit,
            "limit": ("≥ " if at_least else "≤ ") + f"{limit:g}{unit}", "met": met,
            "note": note}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it is met (None: not measured)."""
    rows = []
    by = {(s["saver"], s["variant"]): s for s in result["summary"]["conversation"]}
    savers = sorted({s for s, _ in by}, key=["memory", "sqlite", "postgres"].index)
    for saver in savers:
        project, stock = by.get((saver, "project")), by.get((saver, "stock"))
        retention, compression = by.get((saver, "retention")), by.get((saver, "compression"))
        if retention:
            gc = retention.get("gc")
            rows.append(_target(
                f"retention K=50: db bytes at turn {retention['turns']} vs turn "
                f"{retention['reference_turn']}", saver, retention["db_last_vs_ref"], 1.2,
                note="collect_garbage() n/a: retention setting only" if gc == "n/a" else ""))
        if compression and project and project["db_bytes_per_turn"]:
            saved = 1 - compression["db_bytes_per_turn"] / project["db_bytes_per_turn"]
            rows.append(_target("compression: fewer db bytes per turn", saver, saved * 100, 40,
                                at_least=True, unit="%"))
        if project and stock:
            rows.append(_target(
                "persistence overhead (p50 − floor) vs stock's", saver,
                _ratio(project["persistence_overhead_ms"], stock["persistence_overhead_ms"]),
                1.0, note=f"{project['persistence_overhead_ms']:.1f} ms vs "
                          f"{stock['persistence_overhead_ms']:.1f} ms"
                if project["persistence_overhead_ms"] is not None
                and stock["persistence_overhead_ms"] is not None else ""))
            rows.append(_target("worker CPU per turn vs stock", saver,
                                _ratio(project["cpu_ms_per_turn"], stock["cpu_ms_per_turn"]),
                                2.0))
        if project:
            for which in ("p50", "p95"):
                rows.append(_target(
                    f"{which} turns {project['last_turns']} vs {project['first_turns']}", saver,
                    project[f"last_vs_first_{which}"], 1.2))
            if "transactions_per_turn" in project:
                rows.append(_target("PostgreSQL transactions per turn", saver,
                                    project["transactions_per_turn"], 12, unit=""))
                rows.append(_target("rows read per turn, last window vs first", saver,
                                    project["rows_read_last_vs_first_window"], 1.2,
                                    note="flat = about 1x"))
    for failed in result.get("failed", []):
        rows.append(_target(f"{failed['variant']} conversation (its targets)", failed["saver"],
                            None, 0, note=f"run failed: {failed['error']}"))
    for listing in result.get("thread_listing", []):
        for label, user in listing["users"].items():
            rows.append(_target(f"thread page vs saver scan ({label}, "
                                f"{listing['threads']:,} threads)", listing["saver"],
                                user["speedup"], 50, at_least=True))
    for depth in result.get("history_depth", []):
        shallow, deep = depth["depths"]
        for what, key in (("history page", "history_ratio"), ("get_state", "get_state_ratio")):
            rows.append(_target(f"{what} at {deep:,} vs {shallow:,} checkpoints",
                                depth["saver"], depth[key], 2.0))
    throughput = result.get("throughput")
    if throughput:
        two = next((r for r in throughput["runs"] if r["processes"] == 2), None)
        if two:
            rows.append(_target("2 processes vs 1 (turns per second)", "postgres",
                                two["vs_one"], 1.6, at_least=True))
    return rows


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _met(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "**no**"


def markdown(result: dict[str, Any]) -> str:
    """The report as markdown tables."""
    settings = result["settings"]
    lines = [f"# support-agent bench ({'quick' if settings['quick'] else 'full'}), "
             f"{result['generated_at']}", "",
             f"{result['machine']['cpus']} CPUs, {result['machine']['platform']}; "
             f"{settings['turns']} turns per conversation. Timings are noisy: read the ratios.",
             "", "## Targets", "", "| target | saver | measured | limit | met | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in result["targets"]:
        unit = row["unit"]
        measured = "n/a" if row["measured"] is None else f"{_num(row['measured'], 2)}{unit}"
        lines.append(f"| {row['target']} | {row['where']} | {measured} | {row['limit']} | "
                     f"{_met(row['met'])} | {row['note']} |")
    lines += ["", "## Conversation", "",
              "| saver | variant | p50 ms | p95 ms | floor p50 | overhead ms | first p50/p95 | "
              "last p50/p95 | CPU ms/turn | checkpoints/turn | state bytes | db bytes @ref | "
              "db bytes @end | db bytes/turn |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
              "--- |"]
    for s in result["summary"]["conversation"]:
        lines.append(
            f"| {s['saver']} | {s['variant']} | {_num(s['p50_ms'])} | {_num(s['p95_ms'])} | "
            f"{_num(s['floor_p50_ms'])} | {_num(s['persistence_overhead_ms'])} | "
            f"{_num(s['first_p50_ms'])} / {_num(s['first_p95_ms'])} | "
            f"{_num(s['last_p50_ms'])} / {_num(s['last_p95_ms'])} | "
            f"{_num(s['cpu_ms_per_turn'])} | {_num(s['checkpoints_per_turn'], 2)} | "
            f"{_num(s['state_bytes_last'])} | {_num(s['db_bytes_ref'])} "
            f"(turn {s['reference_turn']}) | {_num(s['db_bytes_last'])} | "
            f"{_num(s['db_bytes_per_turn'])} |")
    for failed in result.get("failed", []):
        lines.append(f"| {failed['saver']} | {failed['variant']} | failed: {failed['error']} |"
                     + " |" * 12)
    pg = [s for s in result["summary"]["conversation"] if "transactions_per_turn" in s]
    if pg:
        lines += ["", "## PostgreSQL per turn (windows of 50 turns)", "",
                  "| variant | transactions | statements | of which empty health checks | "
                  "rows read | rows read by window |", "| --- | --- | --- | --- | --- | --- |"]
        for s in pg:
            by_window = ", ".join(_num(v, 0) for v in s["rows_read_per_turn_by_window"])
            lines.append(f"| {s['variant']} | {_num(s['transactions_per_turn'])} | "
                         f"{_num(s['statements_per_turn'])} | "
                         f"{_num(s['empty_health_checks_per_turn'], 2)} | "
                         f"{_num(s['rows_read_per_turn'])} | {by_window} |")
    if result.get("thread_listing"):
        lines += ["", "## A page of 15 threads", "",
                  "| saver | threads | user | owns | registry ms | saver scan ms | speedup | "
                  "same page |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for listing in result["thread_listing"]:
            for label, u in listing["users"].items():
                lines.append(f"| {listing['saver']} | {listing['threads']:,} | {u['user']} "
                             f"({label}) | {u['owns']:,} | {_num(u['registry_ms'], 2)} | "
                             f"{_num(u['saver_scan_ms'], 2)} | {_num(u['speedup'])}x | "
                             f"{'yes' if u['same_page'] else 'no'} |")
    if result.get("history_depth"):
        lines += ["", "## History page and get_state by depth", "",
                  "| saver | checkpoints | history page ms | get_state ms |",
                  "| --- | --- | --- | --- |"]
        for depth in result["history_depth"]:
            for at in depth["at"].values():
                lines.append(f"| {depth['saver']} | {at['checkpoints']:,} | "
                             f"{_num(at['history_page_ms'], 2)} | {_num(at['get_state_ms'], 2)} |")
    if result.get("hot_cache"):
        from bench.cache import markdown as cache_markdown

        lines += ["", cache_markdown(result["hot_cache"]).rstrip()]
    if result.get("throughput"):
        lines += ["", "## Throughput on PostgreSQL", "",
                  "| processes | turns | seconds | turns/s | vs one |",
                  "| --- | --- | --- | --- | --- |"]
        for r in result["throughput"]["runs"]:
            lines.append(f"| {r['processes']} | {r['turns']} | {_num(r['seconds'])} | "
                         f"{_num(r['turns_per_second'])} | {_num(r['vs_one'], 2)}x |")
    return "\n".join(lines) + "\n"


def plots(result: dict[str, Any], out: Path) -> list[Path]:
    """PNG plots: state bytes, db bytes and latency by turn per saver; throughput."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    runs = result["conversation"]
    savers = [s for s in ("memory", "sqlite", "postgres") if any(r["saver"] == s for r in runs)]
    written = []
    for name, key, ylabel in (("state_bytes", "state_bytes", "latest checkpoint (bytes)"),
                              ("db_bytes", "db_bytes", "database (bytes)")):
        fig, axes = plt.subplots(1, max(1, len(savers)), figsize=(5 * max(1, len(savers)), 4),
                                 squeeze=False)
        for ax, saver in zip(axes[0], savers, strict=False):
            for run in (r for r in runs if r["saver"] == saver):
                points = [(s["turn"], s[key]) for s in run["samples"] if s[key] is not None]
                if points:
                    ax.plot(*zip(*points, strict=True), label=run["variant"], marker=".")
            ax.set_title(saver)
            ax.set_xlabel("turn")
            ax.set_ylabel(ylabel)
            ax.legend()
        fig.tight_layout()
        written.append(_save(fig, out / f"{name}.png", plt))
    fig, axes = plt.subplots(1, max(1, len(savers)), figsize=(5 * max(1, len(savers)), 4),
                             squeeze=False)
    for ax, saver in zip(axes[0], savers, strict=False):
        for run in (r for r in runs if r["saver"] == saver and r["variant"] in ("stock",
                                                                                "project")):
            ax.plot(range(1, len(run["latency_ms"]) + 1), _rolling(run["latency_ms"]),
                    label=run["variant"])
        for graph, floor in result["floors"].items():
            ax.plot(range(1, len(floor["latency_ms"]) + 1), _rolling(floor["latency_ms"]),
                    linestyle="--", label=f"{graph} floor")
        ax.set_title(f"{saver}: turn latency (rolling median of 10)")
        ax.set_xlabel("turn")
        ax.set_ylabel("ms")
        ax.legend()
    fig.tight_layout()
    written.append(_save(fig, out / "latency.png", plt))
    fig, ax = plt.subplots(figsize=(5, 4))
    throughput = result.get("throughput")
    if throughput:
        runs_tp = throughput["runs"]
        ax.plot([r["processes"] for r in runs_tp], [r["turns_per_second"] for r in runs_tp],
                marker="o")
        ax.set_xticks([r["processes"] for r in runs_tp])
    else:
        ax.text(0.5, 0.5, "not measured (no postgres saver)", ha="center", va="center")
    ax.set_title("PostgreSQL throughput")
    ax.set_xlabel("processes")
    ax.set_ylabel("turns per second")
    fig.tight_layout()
    written.append(_save(fig, out / "throughput.png", plt))
    return written


def _rolling(values: list[float], width: int = 10) -> list[float]:
    return [statistics.median(values[max(0, i - width + 1):i + 1]) for i in range(len(values))]


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
