"""`support-agent audit`: the audit trail in the terminal or as CSV, as on the Audit page."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from rich.table import Column, Table

from agent.audit_words import (
    ACTION_WORDS,
    FAILED,
    day_range,
    parse_day,
    reason_label,
    row_words,
)
from agent.cli import err, out, shown
from agent.errors import InvalidInput
from agent.service import SupportDesk
from agent.settings import Settings
from agent.views import AuditView

TABLE_ROWS = 100  # a terminal's worth by default; --limit shows more
CSV_ROWS = 5000  # an export takes everything the filters match, up to the desk's maximum
HELP = "Show the audit trail of decisions and handoffs in your tenant (supervisors)."


def add_audit_arguments(sub: argparse.ArgumentParser) -> None:
    """The filters and outputs of `audit` (the acting --user is added by the caller)."""
    sub.add_argument("--customer", help="only this customer's rows (their user id, e.g. alice)")
    sub.add_argument("--action", action="extend", nargs="+", default=[], metavar="ACTION",
                     help=f"only these actions: {', '.join(ACTION_WORDS)}")
    sub.add_argument("--since", metavar="YYYY-MM-DD", help="from this day on (UTC, included)")
    sub.add_argument("--until", metavar="YYYY-MM-DD", help="up to this day (UTC, included)")
    sub.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-': standard output)")
    sub.add_argument("--limit", type=int, metavar="N",
                     help=f"at most N rows, newest first (default: {TABLE_ROWS} in the table, "
                          f"{CSV_ROWS} in a CSV file)")


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """Print (or export) the filtered audit trail, newest first."""
    if args.limit is not None and args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    since, until = day_range(parse_day(args.since, "--since") if args.since else None,
                             parse_day(args.until, "--until") if args.until else None)
    actions = tuple(a.strip().lower() for a in args.action)
    unknown = [a for a in actions if a not in ACTION_WORDS]
    if unknown:  # checked before opening the database: nothing to wait for on a typo
        raise InvalidInput(f"unknown action {unknown[0]!r}; use one of "
                           f"{', '.join(ACTION_WORDS)}")
    limit = args.limit or (CSV_ROWS if args.csv else TABLE_ROWS)
    filters = {"customer_id": args.customer, "actions": actions, "since": since,
               "until": until, "limit": limit}
    with SupportDesk.open(settings) as desk:
        if args.csv:
            return _write_csv(desk.audit_csv(args.user, **filters), args.csv, limit)
        rows = desk.audit_trail(args.user, **filters)
    if not rows:
        out.print("no decisions match these filters")
        return 0
    # Four columns, the text-heavy ones folded into "Details": each row stays readable in an
    # 80-column terminal, where the page's nine columns would be cut to a few letters each.
    table = Table("When (UTC)", "Customer", "Action", Column("Details", ratio=1),
                  show_lines=True)
    for row in rows:
        # A failed action reads differently at a glance: the whole row in red, and said.
        table.add_row(*_cells(row), style=None if row.ok else "red")
    out.print(table)
    if len(rows) == limit:
        out.print(f"[dim]showing the newest {limit}; --limit N shows more[/]")
    return 0


def _cells(row: AuditView) -> tuple[str, str, str, str]:
    """The page's columns folded into four, every text made safe for the terminal."""
    words = row_words(row)
    action = f"{shown(words['Action'])}\nby {shown(words['By'])}"
    if words["Succeeded"] == FAILED:
        action += "\n[bold]FAILED[/]"
    details = [shown(words["Request"])] if words["Request"] else []
    details += [f"[bold]{label}:[/] {shown(words[column])}" for label, column in (
        ("Changed", "Changes"), (reason_label(row.action), "Reason or message"),
        ("Outcome", "Outcome"))
        if words[column]]
    day, _, time_of_day = words["When (UTC)"].partition(" ")
    return f"{day}\n{time_of_day}", shown(words["Customer"]), action, "\n".join(details)


def _write_csv(text: str, target: str, limit: int) -> int:
    rows = len(list(csv.reader(io.StringIO(text)))) - 1  # the header aside
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            Path(target).write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None
        err.print(f"wrote {rows} rows to {shown(target)}")
    if rows == limit:
        err.print(f"[dim]stopped at {limit} rows; --limit N exports more[/]")
    return 0
