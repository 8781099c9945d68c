"""Checkpoint history: the timeline table, one state in full, the graph picture, the size chart.

Two readers: a customer reads their own conversation's steps in words, with dates; a
supervisor also reads the technical columns (step, source, nodes, size, checkpoint id) and
the raw state. `technical` says which one is looking.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from agent.views import CheckpointInfo, CheckpointState
from ui.components.messages import render_messages
from ui.components.text import plain

ROW_HEIGHT = 35  # Streamlit's default dataframe row height, in pixels
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CURRENT, OTHER, FORK_POINT = "current", "other branch", " · fork point"
CUSTOMER_OTHER, CUSTOMER_FORK_POINT = "earlier version", " · forked here"


def browser_zone() -> tzinfo | None:
    """The reader's time zone as their browser reports it (None: the server's own)."""
    try:
        name = st.context.timezone
        return ZoneInfo(name) if name else None
    except Exception:  # no browser (tests, scripts) or a zone this server does not know
        return None


def local_time(created_at: str, zone: tzinfo | None = None) -> str:
    """'2026-11-30 14:05:09' in the reader's zone, from a checkpoint's ISO timestamp."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return created_at or "-"
    return moment.astimezone(zone).strftime(TIME_FORMAT)


def zone_name(zone: tzinfo | None) -> str:
    """How the zone the times are shown in is named ('Europe/Berlin', 'UTC')."""
    return str(zone) if zone is not None else (datetime.now().astimezone().tzname() or "local")


def lineage(infos: list[CheckpointInfo], head: str | None) -> tuple[set[str], str | None]:
    """Which checkpoints of a page lie on the current branch, and the next one expected.

    Walks parent links from `head` (newest first, as pages come); anything else on the page
    belongs to another branch (a replay or fork that is no longer current).
    """
    on_line: set[str] = set()
    expected = head
    for info in infos:
        if info.checkpoint_id == expected:
            on_line.add(info.checkpoint_id)
            expected = info.parent_id
    return on_line, expected


def timeline(infos: list[CheckpointInfo], on_line: set[str], key: str, *, technical: bool,
             zone: tzinfo | None = None) -> str | None:
    """The checkpoints as a selectable table; return the selected checkpoint id.

    Customers get when, their message and what happened (and which version, once a fork
    or replay made more than one); supervisors also the technical columns.
    """
    if not infos:
        st.caption("No checkpoints yet.")
        return None
    children: dict[str | None, int] = {}
    for info in infos:
        children[info.parent_id] = children.get(info.parent_id, 0) + 1
    branched = len(on_line) < len(infos) or max(children.values()) > 1
    other, fork_point = (OTHER, FORK_POINT) if technical else (CUSTOMER_OTHER,
                                                                CUSTOMER_FORK_POINT)
    rows = []
    for info in infos:
        row = {
            "when": local_time(info.created_at, zone),
            "what happened": info.in_words,
            "message": info.message,
            "branch": (CURRENT if info.checkpoint_id in on_line else other)
            + (fork_point if children.get(info.checkpoint_id, 0) > 1 else ""),
        }
        if technical:
            row |= {
                "step": info.step,
                "source": info.source,
                "written by": ", ".join(info.written_by) or "-",
                "next": ", ".join(info.next_nodes) or "-",
                "messages": info.message_count,
                "bytes": info.size_bytes,
            }
        # The id identifies the row (tests and the selection); customers never see it.
        rows.append(row | {"checkpoint": info.checkpoint_id})
    frame = pd.DataFrame(rows)
    event = st.dataframe(frame, key=key, hide_index=True, on_select="rerun",
                         selection_mode="single-row", width="stretch",
                         height=ROW_HEIGHT * (len(frame) + 1) + 3,  # the whole page, no scroll
                         column_order=_columns(technical, branched),
                         column_config=_column_config(technical, branched))
    selected = event.selection.rows if event else []
    return infos[selected[0]].checkpoint_id if selected else None


def _columns(technical: bool, branched: bool) -> list[str]:
    if technical:
        # The words first, then the internals; the id last (it is long, and rarely read).
        return ["when", "step", "what happened", "message", "branch", "written by", "next",
                "source", "messages", "bytes", "checkpoint"]
    return ["when", "message", "what happened", *(["branch"] if branched else [])]


def _column_config(technical: bool, branched: bool) -> dict:
    """Headers and widths (px) that fit a laptop's page for a customer, a desk's for staff."""
    text = st.column_config.TextColumn
    config = {
        "when": text("When", width=145, pinned=technical),  # staff scroll sideways
        "what happened": text("What happened",
                              width=250 if technical else 400 if branched else 550),
        "message": text("Customer message" if technical else "Your message",
                        width=160 if technical else 200),
        "branch": text("Branch" if technical else "Version", width=150),
    }
    if technical:
        config |= {
            "step": st.column_config.NumberColumn("Step", width=50, pinned=True),
            "source": text("Source", width=60),
            "written by": text("Written by", width=95),
            "next": text("Next", width=95),
            "messages": st.column_config.NumberColumn("Messages", width=75),
            "bytes": st.column_config.NumberColumn("Bytes", format="%d", width=60),
            "checkpoint": text("Checkpoint id", width=270),
        }
    return config


def state_view(state: CheckpointState, *, technical: bool, zone: tzinfo | None = None) -> None:
    """The state at one checkpoint, and what its step changed."""
    info = state.info
    if technical:
        # Node names hold underscores (__start__): escaped, or markdown makes them bold.
        st.markdown(plain(f"Step {info.step} · {info.source} · written by "
                          f"{', '.join(info.written_by) or '-'} · next: "
                          f"{', '.join(info.next_nodes) or '-'}"))
    st.markdown(f"**{local_time(info.created_at, zone)}** · {plain(info.in_words)}")
    labels = ["Messages", "Summary", "Changes"] + (["Raw values"] if technical else [])
    tabs = st.tabs(labels)
    with tabs[0]:
        # Words for a customer; tool names, arguments and results for staff.
        render_messages(state.messages, technical=technical)
    with tabs[1]:
        st.text(state.summary or "(no summary yet)")
    with tabs[2]:
        added = [m for m in state.messages if m.id in state.added_message_ids]
        removed = len(state.removed_message_ids)
        st.caption(f"{len(added)} message(s) added, {removed} removed"
                   + (", summary rewritten" if state.summary_changed else ""))
        render_messages(added, technical=technical)
        if technical and state.removed_message_ids:
            st.caption("Removed: " + ", ".join(state.removed_message_ids))
    if technical:
        with tabs[3]:
            st.json(state.values, expanded=1)


def graph_picture(dot: str, next_nodes: tuple[str, ...], *, technical: bool) -> None:
    """The agent's graph with what runs next highlighted (DOT, drawn by the browser)."""
    if technical:
        caption = ("Next: " + ", ".join(next_nodes)) if next_nodes else "Next: the end"
        st.caption(plain(f"The agent's graph · dashed: conditional edges · {caption}"))
    else:
        st.caption("How the assistant works: the highlighted step comes next from here.")
    st.graphviz_chart(dot, width="content")


def size_chart(infos: list[CheckpointInfo]) -> None:
    """Size and message count per step of one branch: summarising and pruning show as drops."""
    if len(infos) < 2:
        return
    frame = pd.DataFrame([{"step": i.step, "state bytes": i.size_bytes,
                           "messages": i.message_count} for i in infos]).sort_values("step")
    frame = frame.set_index("step")  # one branch: one checkpoint per step
    left, right = st.columns(2)
    with left:
        st.caption("State size (bytes) per step")
        st.line_chart(frame["state bytes"], height=180)
    with right:
        st.caption("Messages in state per step")
        st.line_chart(frame["messages"], height=180)
