"""Audit (supervisors): every decision and handoff step in the tenant, and customers' ratings.

Rows come from the desk, which keeps them to the supervisor's tenant; this page only filters,
words and draws them. What customers and supervisors wrote (reasons, messages, comments) stays
plain text: in dataframe cells, or escaped with `plain()` where a selected row is read in full.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from agent.audit_words import (
    ACTION_WORDS,
    COLUMNS,
    FAILED,
    action_words,
    reason_label,
    row_words,
)
from agent.audit_words import when as when_utc
from agent.domain.shop import User
from agent.errors import SupportError
from agent.views import AuditView, FeedbackView
from ui.components.text import plain
from ui.components.time_range import utc_day_range
from ui.session import desk, require_user

ROW_LIMIT = 1000  # the newest rows the table (and its CSV) holds; narrower filters see older
ALL = ""  # the customer filter's "All"
FAILED_ROW = "background-color: #fde8e8; color: #9b1c1c"

supervisor = require_user()
support = desk()
st.title("Audit")


def tenant_customers() -> dict[str, str]:
    """The tenant's customers, id -> display name, for the customer filter."""
    return {u.user_id: u.display_name for u in support.users()
            if u.tenant == supervisor.tenant and not u.is_supervisor}


def filters(customers: dict[str, str]) -> dict | None:
    """The filter row; the desk's keyword filters, or None when the time range is unusable."""
    who, what, span = st.columns([1, 2, 1.2], vertical_alignment="bottom")
    customer = who.selectbox("Customer", [ALL, *customers], key="audit_customer",
                             format_func=lambda c: customers.get(c, c) if c else "All")
    actions = what.multiselect("Action", list(ACTION_WORDS), key="audit_actions",
                               format_func=action_words, placeholder="All actions")
    days = utc_day_range(span, "audit_days")
    if days is None:
        return None
    since, until = days
    return {"customer_id": customer or None, "actions": tuple(actions), "since": since,
            "until": until, "limit": ROW_LIMIT}


def decisions_table(rows: list[AuditView], key: str) -> AuditView | None:
    """The rows as a table, newest first, a failed action tinted red; the row selected, if any."""
    frame = pd.DataFrame([row_words(row) for row in rows], columns=list(COLUMNS))
    styled = frame.style.apply(
        lambda line: [FAILED_ROW if line["Succeeded"] == FAILED else ""] * len(line), axis=1)
    text = st.column_config.TextColumn
    # Widths in pixels: who, what and whether it worked fit the page without scrolling; the
    # long texts scroll sideways, and a selected row is shown in full below the table.
    event = st.dataframe(
        styled, hide_index=True, width="stretch", key=key, on_select="rerun",
        selection_mode="single-row", column_config={
            "When (UTC)": text(width=140),
            "Customer": text(width=110),
            "Action": text(width=150),
            "Succeeded": text(width=95),
            "Request": text(width=190),
            "By": text(width=105),
            "Changes": text(width=200),
            "Reason or message": text(width=240),
            "Outcome": text(width=420),
        })
    selected = event.selection.rows if event else []
    return rows[selected[0]] if selected and selected[0] < len(rows) else None


def row_in_full(row: AuditView) -> None:
    """One decision with every text whole (a table cell shows only the start of long ones)."""
    words = row_words(row)
    with st.container(border=True, key="audit_row"):
        st.markdown(f"**{plain(words['Action'])}** by {plain(words['By'])} · customer "
                    f"{plain(words['Customer'])} · {words['When (UTC)']} UTC")
        for label, column in (("Request", "Request"), ("Changes", "Changes"),
                              (reason_label(row.action), "Reason or message")):
            if words[column]:
                st.markdown(f"**{label}:** {plain(words[column])}")
        if row.ok:
            st.markdown(f"**Outcome:** {plain(row.outcome)}")
        else:
            st.error(f"**Failed:** {plain(row.outcome)}", icon=":material/error:")


def decisions_tab() -> None:
    """Filters, the table of decisions and the CSV of exactly those rows."""
    chosen = filters(tenant_customers())
    if chosen is None:
        return
    try:
        rows = support.audit_trail(supervisor.user_id, **chosen)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    failed = sum(not row.ok for row in rows)
    summary, download = st.columns([3, 1], vertical_alignment="bottom")
    summary.caption(
        f"{len(rows):,} {'row' if len(rows) == 1 else 'rows'}, newest first"
        + (f" · {failed} failed after approval" if failed else "")
        + (f" · only the newest {ROW_LIMIT:,}: narrow the filters to see older rows"
           if len(rows) == ROW_LIMIT else ""))
    download.download_button(
        "Download CSV", icon=":material/download:", mime="text/csv", on_click="ignore",
        data=lambda: support.audit_csv(supervisor.user_id, **chosen), width="stretch",
        file_name=f"audit-{supervisor.tenant}-{datetime.now(UTC).date().isoformat()}.csv",
        disabled=not rows, key="audit_csv")
    if not rows:
        st.info("No decisions match these filters. Approvals, rejections, replies and handoffs "
                "appear here as they happen.", icon=":material/fact_check:")
        return
    # The rows and filters in the key: a selection kept by row number must never point at
    # another decision once new rows arrive or the filters change.
    key = "audit_table-" + "-".join(str(part) for part in (
        rows[0].audit_id, len(rows), chosen["customer_id"], *chosen["actions"],
        chosen["since"], chosen["until"]))
    selected = decisions_table(rows, key)
    if selected is None:
        st.caption("Select a row to read it in full.")
    else:
        row_in_full(selected)


def feedback_figures(ratings: list[FeedbackView]) -> None:
    """Headline figures: share of thumbs up, average stars, and how many of each."""
    replies = [r for r in ratings if r.kind == "reply"]
    closed = [r for r in ratings if r.kind == "conversation"]
    liked = sum(r.score > 0 for r in replies)
    share, thumbs, stars, rated = st.columns(4)
    share.metric("Replies rated helpful", f"{liked / len(replies):.0%}" if replies else "-",
                 border=True)
    thumbs.metric("Thumbs up / down", f"{liked} / {len(replies) - liked}", border=True)
    stars.metric("Average conversation rating",
                 f"{sum(r.score for r in closed) / len(closed):.1f} / 5" if closed else "-",
                 border=True)
    rated.metric("Rated conversations", f"{len(closed):,}", border=True)


def feedback_tab() -> None:
    """The tenant's ratings: thumbs on replies, stars for closed conversations."""
    try:
        ratings = support.feedback(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    feedback_figures(ratings)
    if not ratings:
        st.info("No ratings yet. Customers rate the assistant's replies with a thumb, and a "
                "conversation with 1 to 5 stars when they close it.", icon=":material/reviews:")
        return
    text = st.column_config.TextColumn
    st.subheader("Closed conversations", divider="gray")
    st.dataframe(pd.DataFrame([{
        "When (UTC)": when_utc(r.created_at), "Customer": r.customer_name,
        "Conversation": r.thread_title, "Rating": "★" * r.score + "☆" * (5 - r.score),
        "Comment": r.comment} for r in ratings if r.kind == "conversation"],
        columns=["When (UTC)", "Customer", "Conversation", "Rating", "Comment"]),
        hide_index=True, width="stretch", key="feedback_conversations",
        column_config={"Comment": text(width="large")})
    st.subheader("Replies", divider="gray")
    st.dataframe(pd.DataFrame([{
        "When (UTC)": when_utc(r.created_at), "Customer": r.customer_name,
        "Conversation": r.thread_title, "Rating": "Thumbs up" if r.score > 0 else "Thumbs down",
        "Reply": r.message_excerpt or "(no longer in the conversation)"}
        for r in ratings if r.kind == "reply"],
        columns=["When (UTC)", "Customer", "Conversation", "Rating", "Reply"]),
        hide_index=True, width="stretch", key="feedback_replies",
        column_config={"Reply": text(width="large")})


def only_supervisors(user: User) -> None:
    """A customer who reaches this page by its address sees why there is nothing here."""
    if not user.is_supervisor:
        st.error("The audit trail is for supervisors.", icon=":material/block:")
        st.stop()


only_supervisors(supervisor)
st.caption(f"Decisions and handoffs in **{plain(supervisor.tenant)}**, and what customers "
           "thought of the help they got. Times are UTC.")
decisions, feedback = st.tabs(["Decisions", "Feedback"])
with decisions:
    decisions_tab()
with feedback:
    feedback_tab()
