"""`support-agent bench` runs end to end (tiny sizes) and writes every figure: structure only.

Timings are never asserted (they belong to the benchmark's own report); this checks that the
command runs on every saver, that the JSON holds each figure the report and the docs name, and
that the plots are PNG files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from support.services import ADMIN_URL, missing_service

pytestmark = pytest.mark.postgres

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ("--quick", "--turns", "20", "--threads", "200", "--depths", "10,40",
        "--throughput-seconds", "2", "--runs", "2")


def _bench_databases() -> set[str]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database "
                            "WHERE datname LIKE 'sa\\_bench\\_%'").fetchall()
    return {row[0] for row in rows}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, set[str]]:
    """One tiny run of the whole suite on memory, SQLite and PostgreSQL."""
    try:
        before = _bench_databases()
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL is not running at {ADMIN_URL}: {exc}")
    out = tmp_path_factory.mktemp("bench")
    command = Path(sys.executable).with_name("support-agent")
    result = subprocess.run(
        [str(command), "bench", *TINY, "--savers", "memory", "sqlite", "postgres",
         "--out", str(out), "--postgres-url", ADMIN_URL],
        capture_output=True, text=True, timeout=280, cwd=out)
    assert result.returncode == 0, f"bench failed:\n{result.stdout}\n{result.stderr}"
    data = json.loads((out / "latest.json").read_text())
    leftover = _bench_databases() - before
    return out, data, leftover


def test_every_conversation_figure_is_recorded(bench_run):
    _out, data, _ = bench_run
    runs = {(r["saver"], r["variant"]): r for r in data["conversation"]}
    assert set(runs) == {(s, v) for s in ("memory", "sqlite", "postgres")
                         for v in ("stock", "project", "retention", "compression")}
    for run in runs.values():
        for per_turn in ("latency_ms", "cpu_ms", "checkpoints"):
            assert len(run[per_turn]) == 20, (run["saver"], run["variant"], per_turn)
        assert run["samples"][-1]["turn"] == 20
        assert all(s["state_bytes"] > 0 for s in run["samples"])
        # PostgreSQL's size is read at window ends (with the server counters), others always.
        sized = [s for s in run["samples"] if s["db_bytes"] is not None]
        assert sized and all(s["db_bytes"] > 0 for s in sized)
        assert sized[-1]["turn"] == 20
    for (saver, _variant), run in runs.items():
        if saver == "postgres":
            assert run["windows"] and sum(w["turns"] for w in run["windows"]) == 20
            assert {"transactions", "statements", "empty_health_checks",
                    "rows_read"} <= set(run["windows"][0])
        else:
            assert run["windows"] == []
    assert runs[("sqlite", "retention")]["gc"] is not None  # a list of runs, or "n/a"
    assert set(data["floors"]) == {"stock", "project"}
    assert all(len(f["latency_ms"]) == 20 for f in data["floors"].values())


def test_summary_targets_and_other_measurements(bench_run):
    _out, data, _ = bench_run
    summary = {(s["saver"], s["variant"]): s for s in data["summary"]["conversation"]}
    for figure in ("p50_ms", "p95_ms", "first_p50_ms", "last_p95_ms", "cpu_ms_per_turn",
                   "checkpoints_per_turn", "state_bytes_last", "db_bytes_ref", "db_bytes_last",
                   "persistence_overhead_ms"):
        assert all(s[figure] is not None for s in summary.values()), figure
    pg = summary[("postgres", "project")]
    for figure in ("transactions_per_turn", "statements_per_turn",
                   "empty_health_checks_per_turn", "rows_read_per_turn",
                   "rows_read_last_vs_first_window"):
        assert figure in pg, figure
    assert {d["saver"] for d in data["history_depth"]} == {"memory", "sqlite", "postgres"}
    assert all(d["depths"] == [10, 40] and d["history_ratio"] and d["get_state_ratio"]
               for d in data["history_depth"])
    assert {t["saver"] for t in data["thread_listing"]} == {"sqlite", "postgres"}
    for listing in data["thread_listing"]:
        assert listing["threads"] == 200
        assert set(listing["users"]) == {"1% owner", "half owner"}
        assert listing["users"]["half owner"]["owns"] == 100
        assert all(u["same_page"] for u in listing["users"].values())
    assert [r["processes"] for r in data["throughput"]["runs"]] == [1, 2]
    assert all(r["turns"] > 0 for r in data["throughput"]["runs"])
    names = " ".join(t["target"] for t in data["targets"])
    for words in ("retention", "compression", "transactions per turn", "overhead",
                  "rows read", "thread page", "history page", "get_state", "CPU",
                  "2 processes"):
        assert words in names, words
    assert data["machine"]["cpus"] and data["settings"]["turns"] == 20


def test_report_plots_and_cleanup(bench_run):
    out, _data, leftover = bench_run
    assert "## Targets" in (out / "latest.md").read_text()
    for name in ("state_bytes", "db_bytes", "latency", "throughput"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE, name
    assert not leftover, f"bench left databases behind: {sorted(leftover)}"


def test_statements_of_a_turn_are_listed_and_the_last_ones_share_the_unlock() -> None:
    """`python -m bench.statements 2` lists each statement of two ordinary turns with its
    sender; on the lean path a turn's final status goes out in the unlock's pipeline, on the
    lock's session, and the per-turn counts end the output."""
    before = _bench_databases()
    done = subprocess.run([sys.executable, "-m", "bench.statements", "2", "--admin-url",
                           ADMIN_URL], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("turn | ") for line in lines) == 2
    rows = [line.split(" | ") for line in lines if line.startswith("execute")]
    unlocks = [i for i, row in enumerate(rows) if "pg_advisory_unlock" in row[1]]
    assert len(unlocks) == 2
    for i in unlocks:
        status, unlock = rows[i - 1], rows[i]
        assert status[1].startswith("UPDATE support_threads SET status")
        assert status[3] == unlock[3] and status[4] == unlock[4] == "pipeline"
    assert any(row[2] == "langgraph" for row in rows)
    assert lines[-1].startswith("per turn: ") and "transactions" in lines[-1]
    assert not _bench_databases() - before  # its database was dropped
