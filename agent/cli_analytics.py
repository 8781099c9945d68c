"""`support-agent analytics`: Insights' headline figures in the terminal, and the Parquet export."""

from __future__ import annotations

import argparse

from rich.table import Table

from agent.analytics.words import dollars, seconds
from agent.audit_words import day_range, parse_day
from agent.cli import out, shown
from agent.errors import InvalidInput
from agent.service import SupportDesk
from agent.service.insights import InsightsReport
from agent.settings import Settings

HELP = ("Insights from the checkpoints: headline figures for your tenant (--user, supervisors), "
        "or `analytics export --parquet DIR`.")
EXPORT_HELP = ("Write the checkpoint rows new since the last export as Parquet, partitioned "
               "year=/month=/day= (every tenant; no message text unless --with-text).")
TOP_THREADS = 10


def add_analytics_arguments(sub: argparse.ArgumentParser,
                            common: argparse.ArgumentParser) -> None:
    """`analytics --user SUPERVISOR [--since --until]` and `analytics export --parquet DIR`."""
    sub.add_argument("--user", "-u", help="the signed-in supervisor (e.g. sam)")
    sub.add_argument("--since", metavar="YYYY-MM-DD", help="from this day on (UTC, included)")
    sub.add_argument("--until", metavar="YYYY-MM-DD", help="up to this day (UTC, included)")
    actions = sub.add_subparsers(title="actions", metavar="ACTION")
    export = actions.add_parser("export", parents=[common], help=EXPORT_HELP,
                                description=EXPORT_HELP)
    export.set_defaults(handler=cmd_analytics_export)
    export.add_argument("--parquet", required=True, metavar="DIR",
                        help="the export folder (its _watermark.json says what is there)")
    export.add_argument("--with-text", action="store_true",
                        help="include the messages' text (off: ids, times, sizes, tokens only)")


def cmd_analytics(settings: Settings, args: argparse.Namespace) -> int:
    """Print the headline figures of the supervisor's tenant."""
    if not args.user:
        raise InvalidInput("--user is required: the supervisor whose tenant to report on")
    since, until = day_range(parse_day(args.since, "--since") if args.since else None,
                             parse_day(args.until, "--until") if args.until else None)
    with SupportDesk.open(settings) as desk:
        report = desk.insights(args.user, since=since, until=until)
    print_report(report)
    return 0


def cmd_analytics_export(settings: Settings, args: argparse.Namespace) -> int:
    """Export what is new since the last export into the folder."""
    with SupportDesk.open(settings) as desk:
        result = desk.export_insights(args.parquet, with_text=args.with_text)
    text = " with message text" if result.with_text else ""
    out.print(f"exported {result.rows} new checkpoint rows{text} from {result.threads} threads "
              f"into {shown(result.directory)} ({len(result.files)} files, "
              f"{len(result.partitions)} days)")
    return 0


def print_report(report: InsightsReport) -> None:
    """The report as a few rich tables."""
    totals = report.totals
    headline = Table("Threads", "Turns", "Checkpoints", "Tokens in", "Tokens out", "Est. cost",
                     "Approvals", title=f"Insights for {shown(report.tenant)}")
    headline.add_row(str(totals["threads"]), str(totals["turns"]), str(totals["checkpoints"]),
                     f"{totals['tokens_in']:,}", f"{totals['tokens_out']:,}",
                     dollars(totals["cost_usd"]), str(report.approvals))
    out.print(headline)
    if report.unpriced_models:
        out.print(f"[dim]no price for {', '.join(map(shown, report.unpriced_models))}: "
                  "set SUPPORT_MODEL_PRICES to estimate their cost[/]")

    nodes = Table("Node", "Runs", "p50", "p95", "Bytes written", title="Where time goes")
    for row in report.nodes:
        nodes.add_row(shown(row["node"]), str(row["runs"]), seconds(row["p50_s"]),
                      seconds(row["p95_s"]), f"{row['bytes_written']:,}")
    out.print(nodes)

    threads = Table("Thread", "Customer", "Turns", "Checkpoints", "Tokens", "Est. cost",
                    title=f"Dearest threads (top {TOP_THREADS})")
    for row in report.threads[:TOP_THREADS]:
        threads.add_row(row["thread_id"], shown(row["customer_name"]), str(row["turns"]),
                        str(row["checkpoints"]), f"{row['tokens_in'] + row['tokens_out']:,}",
                        dollars(row["cost_usd"]))
    out.print(threads)

    waits = report.approval_waits
    approvals = Table("Supervisor", "Decisions", "Approved", "Edited", "Rejected",
                      "Replied instead", "Wait p50", "Wait p95",
                      title=f"Approvals: {report.approvals} decided; waited p50 "
                            f"{seconds(waits['p50_s'])}, p95 {seconds(waits['p95_s'])}")
    for row in report.supervisors:
        approvals.add_row(shown(row["name"]), str(row["decisions"]), str(row["approved"]),
                          str(row["edited"]), str(row["rejected"]), str(row["replied"]),
                          seconds(row["wait_p50_s"]), seconds(row["wait_p95_s"]))
    out.print(approvals)

    money = Table("Kind", "Entries", "Amount", "Customers", title="Refunds and cancellations")
    for row in report.money:
        money.add_row(row["kind"], str(row["entries"]), dollars(row["amount_cents"] / 100),
                      str(row["customers"]))
    out.print(money)

    feeling = report.satisfaction
    average = feeling["average_stars"]
    out.print(f"Feedback: {feeling['thumbs_up']} thumbs up, {feeling['thumbs_down']} thumbs "
              f"down; {feeling['ratings']} conversations rated"
              + (f", {average:.1f} stars on average" if average is not None else ""))

