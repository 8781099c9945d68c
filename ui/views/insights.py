"""Insights (supervisors): where the agent spends time, what threads cost, how approvals go.

Figures come from the desk (`SupportDesk.insights`), which keeps them to the supervisor's
tenant and computes them with DuckDB from the checkpoints, the audit trail, the ledger and the
feedback. This page only picks the time range, draws and links: a slow node's runs and the
dearest threads open in History (`?thread=`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from agent.analytics.words import dollars, seconds
from agent.errors import SupportError
from ui.components.time_range import utc_day_range
from ui.session import desk, require_user

TOP_THREADS = 20
HISTORY_PAGE = "views/history.py"

supervisor = require_user()
support = desk()
st.title("Insights")


def headline(report) -> None:
    """The figures at a glance."""
    totals = report.totals
    cells = st.columns(6)
    cells[0].metric("Conversations", totals["threads"])
    cells[1].metric("Turns", totals["turns"])
    cells[2].metric("Checkpoints", totals["checkpoints"])
    cells[3].metric("Model tokens", f"{totals['tokens_in'] + totals['tokens_out']:,}",
                    help=f"{totals['tokens_in']:,} in, {totals['tokens_out']:,} out")
    cells[4].metric("Estimated cost", dollars(totals["cost_usd"]))
    cells[5].metric("Approvals decided", report.approvals)
    if report.unpriced_models:
        st.caption(f"No price for {', '.join(report.unpriced_models)}: set "
                   "SUPPORT_MODEL_PRICES to estimate their cost.")


def history_link(thread_id: str, label: str) -> None:
    """A link to the thread's History."""
    st.page_link(HISTORY_PAGE, label=label, icon=":material/history:",
                 query_params={"thread": thread_id}, help=thread_id)


def nodes_section(report) -> None:
    """Per node: runs, p50/p95 duration and bytes written; drill down to the slowest runs."""
    st.subheader("Where time goes")
    if not report.nodes:
        st.caption("No steps in this time range.")
        return
    nodes = pd.DataFrame(report.nodes)
    timed = nodes.dropna(subset=["p95_s"]).set_index("node")
    if not timed.empty:
        milliseconds = (timed[["p50_s", "p95_s"]] * 1000).rename(
            columns={"p50_s": "p50", "p95_s": "p95"})
        st.bar_chart(milliseconds, horizontal=True, stack=False,
                     y_label="", x_label="milliseconds (p50, p95)", height=260)
    st.dataframe(pd.DataFrame({
        "Node": nodes["node"], "Runs": nodes["runs"],
        "p50": [seconds(v) for v in nodes["p50_s"]],
        "p95": [seconds(v) for v in nodes["p95_s"]],
        "State bytes written": nodes["bytes_written"]}), hide_index=True,
        use_container_width=True)
    st.caption("Input and approval steps are counted but not timed: they wait for people.")
    slow_nodes = list(timed.index)
    if not slow_nodes:
        return
    node = st.selectbox("Slowest runs of", slow_nodes, key="insights_node")
    for run in [r for r in report.slowest_runs if r["node"] == node]:
        history_link(run["thread_id"], f"{seconds(run['duration_s'])} at step {run['step']}, "
                     f"{run['ts']:%Y-%m-%d %H:%M:%S} UTC ({run['thread_id'][:10]}…)")


def threads_section(report) -> None:
    """The dearest threads, with a link to each one's History."""
    st.subheader("Dearest conversations")
    if not report.threads:
        st.caption("No conversations in this time range.")
        return
    top = report.threads[:TOP_THREADS]
    st.dataframe(pd.DataFrame({
        "Conversation": [t["title"] for t in top],
        "Customer": [t["customer_name"] for t in top],
        "Turns": [t["turns"] for t in top], "Checkpoints": [t["checkpoints"] for t in top],
        "Bytes written": [t["bytes_written"] for t in top],
        "Tokens in": [t["tokens_in"] for t in top], "Tokens out": [t["tokens_out"] for t in top],
        "Est. cost": [dollars(t["cost_usd"]) for t in top]}),
        hide_index=True, use_container_width=True)
    # Every conversation of the range, dearest first (type to search), not only the table's.
    titles = {t["thread_id"]: f"{t['title']} ({t['customer_name']}, {dollars(t['cost_usd'])})"
              for t in report.threads}
    picked = st.selectbox("Open a conversation's history", list(titles), key="insights_thread",
                          format_func=titles.get)
    history_link(picked, "Open its history")


def approvals_section(report) -> None:
    """Decisions by kind and by supervisor, and how long requests waited."""
    st.subheader("Approvals")
    waits = report.approval_waits
    left, middle, right = st.columns(3)
    left.metric("Decided", report.approvals)
    middle.metric("Waited (p50)", seconds(waits["p50_s"]))
    right.metric("Waited (p95)", seconds(waits["p95_s"]))
    if report.decisions:
        st.bar_chart(pd.Series(report.decisions, name="decisions"), horizontal=True,
                     height=180)
    if report.supervisors:
        st.dataframe(pd.DataFrame({
            "Supervisor": [s["name"] for s in report.supervisors],
            "Decisions": [s["decisions"] for s in report.supervisors],
            "Approved": [s["approved"] for s in report.supervisors],
            "Edited": [s["edited"] for s in report.supervisors],
            "Rejected": [s["rejected"] for s in report.supervisors],
            "Replied instead": [s["replied"] for s in report.supervisors],
            "Wait p50": [seconds(s["wait_p50_s"]) for s in report.supervisors],
            "Wait p95": [seconds(s["wait_p95_s"]) for s in report.supervisors]}),
            hide_index=True, use_container_width=True)


def money_and_feedback(report) -> None:
    """Refunds and cancellations; thumbs and stars."""
    money, feeling = st.columns(2)
    with money:
        st.subheader("Refunds and cancellations")
        if report.money:
            st.dataframe(pd.DataFrame({
                "Kind": [m["kind"] for m in report.money],
                "Entries": [m["entries"] for m in report.money],
                "Amount": [dollars(m["amount_cents"] / 100) for m in report.money],
                "Customers": [m["customers"] for m in report.money]}),
                hide_index=True, use_container_width=True)
        else:
            st.caption("None in this time range.")
    with feeling:
        st.subheader("Satisfaction")
        shown = report.satisfaction
        up, down, stars = st.columns(3)
        up.metric("Thumbs up", shown["thumbs_up"])
        down.metric("Thumbs down", shown["thumbs_down"])
        average = shown["average_stars"]
        stars.metric("Average stars", f"{average:.1f}" if average is not None else "-",
                     help=f"{shown['ratings']} conversations rated")
        if shown["ratings"]:
            st.bar_chart(pd.Series({f"{k} ★": v for k, v in report.stars.items()},
                                   name="conversations"), height=180)


span = utc_day_range(st, "insights_days")
if span is None:
    st.stop()
try:
    report = support.insights(supervisor.user_id, since=span[0], until=span[1])
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
headline(report)
if report.per_day:
    daily = pd.DataFrame(report.per_day).set_index("day")
    st.bar_chart(daily[["turns"]], height=180, y_label="turns per day")
nodes_section(report)
threads_section(report)
approvals_section(report)
money_and_feedback(report)
