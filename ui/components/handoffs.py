"""The handoff queue: conversations where a customer asked for a person, or one handles them."""

from __future__ import annotations

import time

import streamlit as st

from agent.views import HandoffView
from ui.components.text import ago, plain

CONVERSATIONS_PAGE = "views/conversations.py"
OPENED = "conversation_opened"  # the thread a queue card asked the Conversations page to open


def _open(thread_id: str) -> None:
    # Kept in the session by the click itself: a rerun that starts meanwhile (the page
    # refreshes every few seconds) may drop the address the page switch carries, not this.
    st.session_state[OPENED] = thread_id


def handoff_card(item: HandoffView) -> None:
    """One conversation in the queue, with a way into it."""
    with st.container(border=True):
        asked = ago(item.requested_at, time.time())
        if item.person_name:
            state = f":blue-badge[with {plain(item.person_name)}]"
        else:
            state = f":orange-badge[waiting for a person · asked {asked}]"
        st.markdown(f"**{plain(item.customer_name)}** · {plain(item.thread_title)} {state}")
        shown = item.excerpt[-3:]
        if item.reason and not any(item.reason in line for line in shown):
            st.caption(f"Asked: {plain(item.reason)}")
        for line in shown:
            st.caption(plain(line))
        if st.button("Open conversation", key=f"open-{item.thread_id}",
                     icon=":material/forum:", type="primary" if not item.person_name else
                     "secondary", on_click=_open, args=(item.thread_id,)):
            st.switch_page(CONVERSATIONS_PAGE, query_params={"thread": item.thread_id})


def handoff_queue(queue: list[HandoffView]) -> None:
    """Every conversation asking for (or handled by) a person, unanswered ones first."""
    if not queue:
        st.caption("Nobody is waiting for a person.")
        return
    for item in queue:
        handoff_card(item)
