"""History and time travel: a thread's checkpoints, the state at each, replay and fork.

A customer reads their own conversation's steps in words, with dates, and can replay or
fork; a supervisor reads any thread of their tenant with the technical columns too, never
changing it.
"""

from __future__ import annotations

import json

import streamlit as st

from agent.errors import SupportError
from agent.views import ApprovalRequestedEvent, TurnEndedEvent
from ui.components.history import (
    browser_zone,
    graph_picture,
    lineage,
    size_chart,
    state_view,
    timeline,
    zone_name,
)
from ui.components.text import ago, plain, status_label, without_links
from ui.session import desk, require_user, shown_errors

PAGE_SIZE = 20
CHART_CHECKPOINTS = 200  # the chart shows the newest this many; the table pages through all
THREAD_CHOICES = 50

user = require_user()
support = desk()
state = st.session_state
technical = user.is_supervisor
zone = browser_zone()
st.title("History")

# --- which thread -----------------------------------------------------------------------------
try:
    if user.is_supervisor:
        choices = support.tenant_threads(user.user_id, limit=THREAD_CHOICES).threads
    else:
        choices = support.list_threads(user.user_id, limit=THREAD_CHOICES).threads
except SupportError as exc:
    # Everything below needs a thread: show why there is none and stop here.
    st.error(str(exc), icon=":material/error:")
    st.stop()

options = [t.thread_id for t in choices]
current = state.get("history_thread") or state.get("thread_id")
if linked := st.query_params.get("thread"):  # a link from another page (Insights' drill-down)
    del st.query_params["thread"]  # once: the picker below is the user's from here on
    state.pop("history_pick", None)
    current = linked
if current and current not in options:
    options.insert(0, current)
if not options:
    st.info("No conversations yet: start one on the Chat page.", icon=":material/info:")
    st.stop()
titles = {t.thread_id: f"{t.title} ({ago(t.updated_at)}"
          + (f", {t.user_id}" if user.is_supervisor else "") + ")" for t in choices}
thread_id = st.selectbox("Conversation", options,
                         index=options.index(current) if current in options else 0,
                         format_func=lambda t: titles.get(t, t), key="history_pick")
if thread_id != state.get("history_thread"):
    state.history_thread = thread_id
    state.history_cursors = [None]  # page starts: None, then the last id of each page
    state.history_expect = [None]   # the current branch's next expected id per page

try:
    head = support.view_thread(user.user_id, thread_id)
    page_index = len(state.history_cursors) - 1
    # One more than a page: whether an older page exists, without a count of everything.
    infos = support.history(user.user_id, thread_id, limit=PAGE_SIZE + 1,
                            before=state.history_cursors[page_index])
    has_older = len(infos) > PAGE_SIZE
    infos = infos[:PAGE_SIZE]
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

# --- timeline ---------------------------------------------------------------------------------
caption = (f"Newest first · page {page_index + 1} · {status_label(head.thread.status)[0]} · "
           f"times in {zone_name(zone)}")
if technical:
    caption += f" · head checkpoint {head.checkpoint_id or '-'}"
st.caption(caption)

expected = head.checkpoint_id if page_index == 0 else state.history_expect[page_index]
on_line, next_expected = lineage(infos, expected)
if notice := state.pop("history_notice", None):
    if notice["waiting"]:
        st.warning(f"The new branch is waiting for a supervisor to approve "
                   f"{plain(notice['waiting'])}.", icon=":material/hourglass_top:")
    else:
        st.success("New branch written." + (f" Reply: {without_links(notice['reply'])}"
                                             if notice["reply"] else ""),
                   icon=":material/call_split:")
# The head is in the key: after a replay or fork new rows come first, and a selection kept
# by row number would silently point at another checkpoint.
selected = timeline(infos, on_line, technical=technical, zone=zone,
                    key=f"timeline-{thread_id}-{page_index}-{head.checkpoint_id}")

newer, older, _, download = st.columns([1, 1, 2, 2], vertical_alignment="center")
if newer.button("Newer", icon=":material/chevron_left:", disabled=page_index == 0):
    state.history_cursors.pop()
    state.history_expect.pop()
    st.rerun()
if older.button("Older", icon=":material/chevron_right:", disabled=not has_older):
    state.history_cursors.append(infos[-1].checkpoint_id)
    state.history_expect.append(next_expected)
    st.rerun()
# Below the table, not above it: the table's toolbar would cover the button's label.
download.download_button(
    "Download history (JSON)",
    data=lambda: json.dumps(support.export_thread(user.user_id, thread_id), indent=2,
                            default=str),
    file_name=f"{thread_id}.json", mime="application/json", icon=":material/download:",
    on_click="ignore", width="stretch")

if technical:
    with st.expander("State size and message count per step", icon=":material/show_chart:",
                     expanded=True), shown_errors():
        recent = support.history(user.user_id, thread_id, limit=CHART_CHECKPOINTS)
        current_branch, _ = lineage(recent, head.checkpoint_id)
        size_chart([info for info in recent if info.checkpoint_id in current_branch])

# --- one checkpoint ---------------------------------------------------------------------------
if selected is None:
    st.caption("Select a checkpoint to see the state at that point." if technical else
               "Select a step to see the conversation at that point.")
    st.stop()

try:
    chosen = support.state_at(user.user_id, thread_id, selected)
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
details, picture = st.columns(2, gap="large")
with details:
    state_view(chosen, technical=technical, zone=zone)
with picture, shown_errors():
    # What runs next, or the end when this checkpoint finished its turn.
    next_nodes = chosen.info.next_nodes or ("__end__",)
    graph_picture(support.graph_picture(next_nodes, technical=technical),
                  chosen.info.next_nodes, technical=technical)


def run_and_show(events) -> None:
    """Drain a replay or fork, say how it ended, and refresh the page on the new branch."""
    seen = list(events)
    ended = [e for e in seen if isinstance(e, TurnEndedEvent)]
    waiting = ""
    if ended and ended[-1].status == "awaiting_approval":
        asked = [e.approval for e in seen if isinstance(e, ApprovalRequestedEvent)]
        waiting = " and ".join(a.in_words or a.label.lower() or "an action" for a in asked) \
            or "an action"
    state.history_cursors, state.history_expect = [None], [None]
    state.history_notice = {"waiting": waiting, "reply": ended[-1].reply if ended else ""}
    st.rerun()


if user.is_supervisor:
    st.caption("Supervisors read history; only the customer can replay or fork it.")
    st.stop()

replay, fork = st.columns(2)
with replay, shown_errors():
    st.markdown("**Replay from here**")
    st.caption("Runs the assistant again from this step; the new steps form a new version.")
    if st.button("Replay", icon=":material/replay:", disabled=not chosen.info.next_nodes,
                 key="replay"):
        run_and_show(support.replay(user.user_id, thread_id, selected))
with fork, shown_errors():
    st.markdown("**Fork from here**")
    if chosen.info.can_fork:
        with st.form("fork"):
            text = st.text_area("Edit the customer message", value=chosen.messages[-1].text)
            if st.form_submit_button("Fork with this message", icon=":material/call_split:"):
                run_and_show(support.fork(user.user_id, thread_id, selected, text))
    else:
        st.caption("Pick a step that reads “You wrote: …” to edit that message and continue "
                   "from there.")
