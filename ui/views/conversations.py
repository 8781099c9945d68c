"""Supervisors' conversations: step in, write to the customer in your own name, hand back.

Threads asking for a person come first; any thread of the tenant can be opened. The
conversation updates by itself while it is open, so the customer's words appear as they come.
"""

from __future__ import annotations

from collections import Counter

import streamlit as st

from agent.errors import SupportError
from agent.views import ThreadView
from ui.components.attachments import attachment_list, loader_for
from ui.components.handoffs import OPENED, handoff_queue
from ui.components.live import follow_updates, live_since, poll_every
from ui.components.messages import render_messages
from ui.components.text import ago, plain, status_label, without_links
from ui.session import desk, require_user, shown_errors

POLL_SECONDS = 2
RECENT_THREADS = 30
PICKED = "conversation_picked"  # the thread chosen in the box (session state key)

supervisor = require_user()
support = desk()
state = st.session_state
# Taken before anything is read: a change made meanwhile still reruns the page.
since = live_since(support, supervisor.tenant)
st.title("Conversations")
st.caption(f"Step in on any conversation in **{supervisor.tenant}**: what you write appears to "
           "the customer in your name, and the assistant stays quiet until you hand it back.")


@st.fragment(run_every=poll_every(since, POLL_SECONDS))
def asking_for_a_person() -> None:
    """The handoff queue, kept current: a customer asking for a person shows up by itself."""
    try:
        queue = support.handoffs(supervisor.user_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if not queue:
        st.caption("Nobody is asking for a person right now.")
        return
    waiting = sum(1 for item in queue if item.status == "waiting")
    with st.expander(f"Asking for a person: {waiting} waiting, {len(queue) - waiting} with "
                     "the team", expanded=bool(waiting), icon=":material/support_agent:"):
        handoff_queue(queue)


asking_for_a_person()
# A customer's message, a request or a handoff anywhere in the tenant reruns the page at once
# (placed before the page may stop: an empty tenant's page follows too).
follow_updates(support, supervisor.tenant, None, since)

try:
    queue = support.handoffs(supervisor.user_id)
    recent = support.tenant_threads(supervisor.user_id, limit=RECENT_THREADS).threads
    names = {user.user_id: user.display_name for user in support.users()}
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

# --- which conversation ---------------------------------------------------------------------
# Threads asking for a person first, then the newest. A label never says what changes while the
# page is open (status, "2 min ago"): the box remembers its choice by label, so a label that
# changed under it would lose the choice. The queue above and the conversation below say that.
threads = {item.thread_id: (item.customer_id, item.thread_title) for item in queue}
for record in recent:
    threads.setdefault(record.thread_id, (record.user_id, record.title))
asked = st.query_params.get("thread")
if opened := state.pop(OPENED, None):
    # A queue card's "Open conversation" (here or on Approvals): that thread, whatever the
    # address still says.
    state[PICKED] = state.conversation_in_url = opened
elif asked and asked != state.get("conversation_in_url"):
    # Arrived with a thread in the address (the handoff queue, a shared link, a reload): open
    # it. Otherwise the choice in the box wins: the address only follows it.
    state[PICKED] = asked
wanted = state.get(PICKED)
if wanted and wanted not in threads:
    try:  # an older thread, named in the address
        record = support.view_thread(supervisor.user_id, wanted).thread
        threads = {wanted: (record.user_id, record.title), **threads}
    except SupportError as exc:
        st.warning(f"That conversation cannot be opened: {exc}", icon=":material/info:")
        del state[PICKED]
if not threads:
    st.info("No conversations in your tenant yet.", icon=":material/info:")
    st.stop()
labels = {thread: f"{names.get(customer, customer)}: {title}"
          for thread, (customer, title) in threads.items()}
counts = Counter(labels.values())
for thread, label in labels.items():
    if counts[label] > 1:  # the same customer asked the same thing twice: tell them apart
        labels[thread] = f"{label} · #{thread[-6:]}"
thread_id = st.selectbox("Conversation", list(labels), key=PICKED,
                         format_func=lambda t: without_links(labels[t]))
state.conversation_in_url = thread_id
st.query_params["thread"] = thread_id

if notice := state.pop("conversation_notice", None):
    st.success(notice, icon=":material/check:")


def controls_shown(view: ThreadView) -> tuple:
    """What the controls under the conversation depend on (hand back, the reply box)."""
    handoff = view.handoff
    return (view.thread.status, bool(view.pending_approvals),
            handoff.status if handoff else None, handoff.person_id if handoff else None)


@st.fragment(run_every=poll_every(since, POLL_SECONDS))
def conversation(thread_id: str, controls: tuple) -> None:
    """The thread as it is now, redrawn every few seconds while open."""
    try:
        view = support.view_thread(supervisor.user_id, thread_id)
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if controls_shown(view) != controls:
        # Asked for a person, handed back, waiting for approval: the controls below change.
        st.rerun(scope="app")
    words, colour = status_label(view.thread.status)
    if view.handoff is not None and view.handoff.status == "waiting":
        words, colour = "waiting for a person", "orange"
    head, _ = st.columns([4, 1])
    head.subheader(plain(view.thread.title))
    head.badge(words, color=colour)
    customer = names.get(view.thread.user_id, view.thread.user_id)
    st.caption(f"Customer: **{plain(customer)}** · last activity {ago(view.thread.updated_at)}")
    technical = st.toggle("Show technical detail (tool calls and results)",
                          key="conversation_technical")
    load = loader_for(support, supervisor.user_id, view.thread.thread_id)
    render_messages(view.messages, technical=technical, attachments=lambda message: (
        attachment_list(message.attachments, load, key=f"file-{message.id}")))
    if view.pending_approvals:
        st.warning("This conversation waits for a decision on a requested action: decide it "
                   "on the Approvals page (or reply instead from its card).",
                   icon=":material/approval:")
    elif view.handoff is not None:
        if view.handoff.person_name:
            st.info(f"Handled by **{plain(view.handoff.person_name)}**; the assistant is "
                    "quiet until the conversation is handed back.",
                    icon=":material/support_agent:")
        else:
            st.info(f"The customer asked for a person {ago(view.handoff.requested_at)}: "
                    "nobody has answered yet.", icon=":material/support_agent:")


try:
    current = support.view_thread(supervisor.user_id, thread_id)
except SupportError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
conversation(thread_id, controls_shown(current))


def run(events, notice: str | None = None) -> None:
    """Drain a turn started here and refresh the page on its outcome."""
    for _ in events:
        pass
    if notice:
        state.conversation_notice = notice
    st.rerun()


can_hand_back = current.handoff is not None and not current.pending_approvals
if can_hand_back and st.button("Hand back to the assistant", icon=":material/smart_toy:",
                               help="The assistant answers the customer's next messages"):
    with shown_errors():
        run(support.hand_back(supervisor.user_id, thread_id),
            "Handed back: the assistant answers the customer's next message.")

reply = st.chat_input(f"Write to the customer as {supervisor.display_name}...",
                      disabled=bool(current.pending_approvals))
if reply is not None:
    with shown_errors():
        if not reply.strip():
            st.warning("The message is empty.", icon=":material/info:")
        else:
            run(support.reply_as_staff(supervisor.user_id, thread_id, reply))
