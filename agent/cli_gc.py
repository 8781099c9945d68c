"""`support-agent gc`: one retention sweep (old checkpoints, idle threads, crash leftovers)."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict

from rich.table import Table

from agent.backends.retention import STRATEGIES, RetentionPolicy, RetentionReport, describe_bytes
from agent.cli import err, out, shown
from agent.errors import InvalidInput
from agent.service import SupportDesk
from agent.settings import Settings

HELP = "Delete old checkpoints and idle threads as the retention settings say (or flags)."
OFF = ("retention is off: nothing is configured (SUPPORT_RETENTION_KEEP_CHECKPOINTS, "
       "SUPPORT_RETENTION_IDLE_DAYS) and no --keep or --idle-days was given, so nothing was "
       "changed; `gc --vacuum` alone removes crash leftovers and gives space back")


def add_gc_arguments(sub: argparse.ArgumentParser) -> None:
    """The flags of `gc`; each overrides its setting for this sweep only."""
    sub.add_argument("--dry-run", action="store_true",
                     help="count what would be deleted; change nothing")
    sub.add_argument("--keep", metavar="N",
                     help="keep the newest N checkpoints of each thread "
                          "(SUPPORT_RETENTION_KEEP_CHECKPOINTS)")
    sub.add_argument("--idle-days", metavar="D",
                     help="threads untouched for D days get the strategy "
                          "(SUPPORT_RETENTION_IDLE_DAYS)")
    sub.add_argument("--strategy", metavar="S",
                     help="for idle threads: keep_latest or delete "
                          "(SUPPORT_RETENTION_STRATEGY)")
    sub.add_argument("--vacuum", action="store_true",
                     help="SQLite: a full VACUUM (rewrites the file; an older file then gives "
                          "space back by itself); PostgreSQL: VACUUM (ANALYZE) the checkpoint "
                          "tables")
    sub.add_argument("--json", action="store_true", help="print the report as one JSON object")


def cmd_gc(settings: Settings, args: argparse.Namespace) -> int:
    """Run one sweep and print its report."""
    keep = _whole_number(args.keep, "--keep") if args.keep is not None else None
    idle_days = _days(args.idle_days) if args.idle_days is not None else None
    strategy = args.strategy.strip().lower() if args.strategy is not None else None
    if strategy is not None and strategy not in STRATEGIES:
        raise InvalidInput(f"--strategy must be keep_latest or delete, not {args.strategy!r}")
    # Checked before opening the database: a bad setting or flag waits for nothing.
    policy = RetentionPolicy.from_settings(settings, keep=keep, idle_days=idle_days,
                                           strategy=strategy)
    if not policy.enabled and not args.vacuum:
        if args.json:
            print(json.dumps({"retention": "off", "message": OFF}))
        else:
            out.print(OFF)
        return 0
    with SupportDesk.open(settings) as desk:
        report = desk.collect_garbage(dry_run=args.dry_run, keep=keep, idle_days=idle_days,
                                      strategy=strategy, vacuum=args.vacuum)
    if args.json:
        print(json.dumps(asdict(report)))
        return 0
    out.print(report_table(report))
    for note in report.notes:
        out.print(f"[dim]note:[/] {shown(note)}")
    for problem in report.problems:
        err.print(f"[yellow]skipped:[/] {shown(problem)}")
    return 0


def report_table(report: RetentionReport) -> Table:
    """The report as a two-column table."""
    title = "Retention sweep (dry run: nothing was changed)" if report.dry_run \
        else "Retention sweep"
    verb = "would be deleted" if report.dry_run else "deleted"
    table = Table("", "", title=title, show_header=False, title_justify="left")
    rows = [
        ("Saver", report.saver),
        ("Policy", report.policy),
        ("Threads scanned", report.threads_scanned),
        (f"Threads trimmed ({'would be ' if report.dry_run else ''}older checkpoints gone)",
         report.threads_trimmed),
        (f"Idle threads {verb}", report.threads_deleted),
        ("Threads skipped (busy with a live turn)", report.threads_skipped_busy),
        ("Threads skipped (error, see below)", report.threads_failed),
        (f"Checkpoints {verb}", report.checkpoints_deleted),
        (f"Pending writes {verb}", report.writes_deleted),
        (f"Channel blobs {verb}", report.blobs_deleted),
        ("Orphans: registry rows without checkpoints", report.orphan_registry_rows),
        ("Orphans: threads' checkpoints without a registry row",
         report.orphan_checkpoint_threads),
        ("Orphans: lock files", report.orphan_lock_files),
    ]
    if report.attachments_removed is not None:
        rows.append((f"Attachments {verb}", report.attachments_removed))
    rows += [
        ("Database size before", describe_bytes(report.bytes_before)),
        ("Database size after", describe_bytes(report.bytes_after)),
        ("Space given back by", report.reclaimed),
    ]
    for label, value in rows:
        table.add_row(label, shown(str(value)))
    return table


def _whole_number(text: str, flag: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(f"{flag} must be a whole number of checkpoints, at least 1 "
                           f"(got {text!r})") from None
    if value < 1:
        raise InvalidInput(f"{flag} must be at least 1 (got {value}): the latest checkpoint "
                           "is always kept")
    return value


def _days(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"--idle-days must be a number of days above 0, e.g. 30 or 0.5 "
                           f"(got {text!r})")
    return value
