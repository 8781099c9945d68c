"""`support-agent bench`: the benchmark suite (bench/), with a progress bar and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.cli import err, out
from agent.errors import InvalidInput, Unavailable
from agent.settings import Settings

HELP = ("Measure turn latency, state and database size, PostgreSQL work per turn, paging and "
        "throughput on each saver; write bench/results/ (--quick: under 5 minutes).")
SAVERS = ("memory", "sqlite", "postgres")


def add_bench_arguments(sub: argparse.ArgumentParser) -> None:
    """The sizes and outputs of `bench` (the hidden ones make tiny runs for the tests)."""
    sub.add_argument("--quick", action="store_true",
                     help="150 turns, 10,000 threads, depth 2,000: a few minutes")
    sub.add_argument("--turns", type=int, metavar="N",
                     help="turns per conversation (default 1000, quick 150)")
    sub.add_argument("--savers", nargs="+", choices=SAVERS, default=list(SAVERS),
                     metavar="SAVER", help="which savers: memory sqlite postgres (default all)")
    sub.add_argument("--out", type=Path, metavar="DIR",
                     help="where latest.json, latest.md and the plots go "
                          "(default bench/results/)")
    sub.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    sub.add_argument("--depths", help=argparse.SUPPRESS)  # "SHALLOW,DEEP" checkpoints
    sub.add_argument("--throughput-seconds", type=float, help=argparse.SUPPRESS)
    sub.add_argument("--runs", type=int, help=argparse.SUPPRESS)


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run the suite; PostgreSQL databases are created beside SUPPORT_POSTGRES_URL's."""
    from bench.suite import RESULTS, BenchOptions, run_bench

    for name in ("turns", "threads", "runs"):
        value = getattr(args, name)
        if value is not None and value < 2:
            raise InvalidInput(f"--{name} must be at least 2, got {value}")
    options = BenchOptions(
        quick=args.quick, turns=args.turns, savers=tuple(dict.fromkeys(args.savers)),
        out=args.out or RESULTS, threads=args.threads, depths=_depths(args.depths),
        throughput_seconds=args.throughput_seconds, runs=args.runs,
        admin_url=settings.postgres_url)
    if "postgres" in options.savers:
        _check_postgres(settings)
    run_bench(options, err, out)
    return 0


def _depths(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        shallow, deep = (int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"--depths needs SHALLOW,DEEP checkpoint counts, got {text!r}") \
            from None
    if not 1 <= shallow < deep:
        raise InvalidInput(f"--depths needs 1 <= SHALLOW < DEEP, got {text!r}")
    return shallow, deep


def _check_postgres(settings: Settings) -> None:
    """The bench creates databases there: say so plainly when it cannot connect."""
    import psycopg

    try:
        with psycopg.connect(settings.postgres_url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        raise Unavailable(f"bench needs PostgreSQL at {settings.describe()['database']} "
                          f"(SUPPORT_POSTGRES_URL) to create its databases, or --savers "
                          f"without postgres: {str(exc).strip().splitlines()[0]}") from None
