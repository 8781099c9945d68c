"""The thread list: newest first, paged, each with its title, last activity and status."""

from __future__ import annotations

import streamlit as st

from agent.views import ThreadPage
from ui.components.text import ago, status_label, without_links


def thread_list(page: ThreadPage, selected: str | None) -> str | None:
    """Draw one page of threads; return the thread id clicked, if any."""
    if not page.threads:
        st.caption("No conversations yet.")
    clicked = None
    for record in page.threads:
        words, _ = status_label(record.status)
        chosen = record.thread_id == selected
        when = f"{ago(record.updated_at)} · {words}"
        # A label is markdown too, and the title is the customer's own words.
        label = f"{without_links(record.title)}  \n{when if chosen else f':gray[{when}]'}"
        if st.button(label, key=f"thread-{record.thread_id}", width="stretch",
                     type="primary" if chosen else "secondary"):
            clicked = record.thread_id
    return clicked


def pager(total: int, offset: int, limit: int, key: str) -> int | None:
    """Newer / older buttons; return the new offset when one is pressed."""
    if total <= limit:
        return None
    newer, where, older = st.columns([1, 2, 1])
    moved = None
    if newer.button(":material/chevron_left:", key=f"{key}-newer", disabled=offset == 0,
                    help="Newer"):
        moved = max(0, offset - limit)
    where.caption(f"{offset + 1}-{min(offset + limit, total)} of {total}")
    if older.button(":material/chevron_right:", key=f"{key}-older",
                    disabled=offset + limit >= total, help="Older"):
        moved = offset + limit
    return moved
