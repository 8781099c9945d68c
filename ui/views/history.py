"""History and time travel: a thread's checkpoints, the state at each, replay and fork."""

from __future__ import annotations

import json

import streamlit as st

from agent.errors import SupportError
from agent.views import TurnEndedEvent
from ui.components.history import lineage, size_chart, state_view, timeline
from ui.components.text import ago, without_links
from ui.session import desk, require_user, shown_errors

PAGE_SIZE = 20
CHART_CHECKPOINTS = 200  # the chart shows the newest this many; the table pages through all
THREAD_CHOICES = 50

user = require_user()
support = desk()
state = st.session_state
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
top, download = st.columns([3, 1], vertical_alignment="bottom")
top.caption(f"Newest first · page {page_index + 1} · {head.thread.status} · head checkpoint "
            f"{head.checkpoint_id or '-'}")
download.download_button(
    "Download history (JSON)",
    data=lambda: json.dumps(support.export_thread(user.user_id, thread_id), indent=2,
                            default=str),
    file_name=f"{thread_id}.json", mime="application/json", icon=":material/download:",
    on_click="ignore", width="stretch")

expected = head.checkpoint_id if page_index == 0 else state.history_expect[page_index]
on_line, next_expected = lineage(infos, expected)
if notice := state.pop("history_notice", None):
    st.success(f"New branch written. Reply: {without_links(notice)}",
               icon=":material/call_split:")
# The head is in the key: after a replay or fork new rows come first, and a selection kept
# by row number would silently point at another checkpoint.
selected = timeline(infos, on_line,
                    key=f"timeline-{thread_id}-{page_index}-{head.checkpoint_id}")

newer, older, _ = st.columns([1, 1, 4])
if newer.button("Newer", icon=":material/chevron_left:", disabled=page_index == 0):
    state.history_cursors.pop()
    state.history_expect.pop()
    st.rerun()
if older.button("Older", icon=":material/chevron_right:", disabled=not has_older):
    state.history_cursors.append(infos[-1].checkpoint_id)
    state.history_expect.append(next_expected)
    st.rerun()

with st.expander("State size and message count per step", icon=":material/show_chart:",
                 expanded=True), shown_errors():
    recent = support.history(user.user_id, thread_id, limit=CHART_CHECKPOINTS)
    current_branch, _ = lineage(recent, head.checkpoint_id)
    size_chart([info for info in recent if info.checkpoint_id in current_branch])

# --- one checkpoint ---------------------------------------------------------------------------
if selected is None:
    st.caption("Select a checkpoint to see the state at that point.")
    st.stop()

try:
    chosen = support.state_at(user.user_id, thread_id, selected)
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
state_view(chosen)


def run_and_show(events) -> None:
    """Drain a replay or fork, show its reply, and refresh the page on the new branch."""
    ended = [e for e in events if isinstance(e, TurnEndedEvent)]
    state.history_cursors, state.history_expect = [None], [None]
    state.history_notice = ended[-1].reply if ended else ""
    st.rerun()


if user.is_supervisor:
    st.caption("Supervisors read history; only the customer can replay or fork it.")
    st.stop()

replay, fork = st.columns(2)
with replay, shown_errors():
    st.markdown("**Replay from here**")
    st.caption("Runs the graph again from this checkpoint; the new steps form a branch.")
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
        st.caption("Pick a checkpoint where a customer message was just received (written by "
                   "__start__) to fork with an edited message.")
