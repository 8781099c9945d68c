"""Checkpoint history: the timeline table, one state in full, the size chart."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from agent.views import CheckpointInfo, CheckpointState
from ui.components.messages import render_messages

ROW_HEIGHT = 35  # Streamlit's default dataframe row height, in pixels


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


def timeline(infos: list[CheckpointInfo], on_line: set[str], key: str) -> str | None:
    """The checkpoints as a selectable table; return the selected checkpoint id."""
    children: dict[str | None, int] = {}
    for info in infos:
        children[info.parent_id] = children.get(info.parent_id, 0) + 1
    frame = pd.DataFrame([{
        "step": info.step,
        "branch": ("current" if info.checkpoint_id in on_line else "other")
        + (" (fork point)" if children.get(info.checkpoint_id, 0) > 1 else ""),
        "source": info.source,
        "written by": ", ".join(info.written_by) or "-",
        "next": ", ".join(info.next_nodes) or "-",
        "time": info.created_at[11:19],
        "messages": info.message_count,
        "bytes": info.size_bytes,
        "approval": "waiting" if info.awaiting_approval else "",
        "checkpoint": info.checkpoint_id,
    } for info in infos])
    if frame.empty:
        st.caption("No checkpoints yet.")
        return None
    event = st.dataframe(frame, key=key, hide_index=True, on_select="rerun",
                         selection_mode="single-row", width="stretch",
                         height=ROW_HEIGHT * (len(frame) + 1) + 3,  # the whole page, no scroll
                         column_config={"bytes": st.column_config.NumberColumn(format="%d")})
    rows = event.selection.rows if event else []
    return infos[rows[0]].checkpoint_id if rows else None


def state_view(state: CheckpointState) -> None:
    """The state at one checkpoint, and what its step changed."""
    info = state.info
    st.markdown(f"**Step {info.step}** · {info.source} · written by "
                f"{', '.join(info.written_by) or '-'} · next: {', '.join(info.next_nodes) or '-'}")
    messages, summary, changes, raw = st.tabs(["Messages", "Summary", "Changes", "Raw values"])
    with messages:
        render_messages(state.messages)
    with summary:
        st.text(state.summary or "(no summary yet)")
    with changes:
        added = [m for m in state.messages if m.id in state.added_message_ids]
        st.caption(f"{len(added)} message(s) added, {len(state.removed_message_ids)} removed"
                   + (", summary rewritten" if state.summary_changed else ""))
        render_messages(added)
        if state.removed_message_ids:
            st.caption("Removed: " + ", ".join(state.removed_message_ids))
    with raw:
        st.json(state.values, expanded=1)


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
