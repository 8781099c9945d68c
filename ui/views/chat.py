"""Customer chat: own threads in the sidebar, the conversation, streamed replies."""

from __future__ import annotations

import streamlit as st

from agent.errors import NotFound, SupportError
from agent.views import (
    ApprovalRequestedEvent,
    HousekeepingEvent,
    ThreadView,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnEndedEvent,
)
from ui.components.messages import render_messages
from ui.components.text import plain, status_label, without_links
from ui.components.threads import pager, thread_list
from ui.session import desk, require_user, shown_errors

PAGE_SIZE = 15
POLL_SECONDS = 2

user = require_user()
support = desk()
state = st.session_state
# The open thread is also in the URL, so a reload (or a shared link) reopens it.
state.setdefault("thread_id", st.query_params.get("thread"))
state.setdefault("thread_offset", 0)

# --- sidebar: my threads ----------------------------------------------------------------------
with st.sidebar:
    if st.button("New conversation", icon=":material/add_comment:", width="stretch"):
        state.thread_id = None
    with shown_errors():
        page = support.list_threads(user.user_id, limit=PAGE_SIZE, offset=state.thread_offset)
        if not page.threads and page.offset > 0:
            # Threads were deleted (here or elsewhere) and this page ran empty: go to the last
            # page that still has some, instead of hiding the pager with it.
            state.thread_offset = max(0, (page.total - 1) // PAGE_SIZE * PAGE_SIZE)
            st.rerun()
        clicked = thread_list(page, state.thread_id)
        if clicked:
            state.thread_id = clicked
            st.rerun()
        moved = pager(page.total, page.offset, page.limit, "threads")
        if moved is not None:
            state.thread_offset = moved
            st.rerun()

# --- the open thread --------------------------------------------------------------------------
view: ThreadView | None = None
if state.thread_id:
    try:
        view = support.view_thread(user.user_id, state.thread_id)
    except NotFound:
        st.warning("That conversation no longer exists (it was deleted, perhaps in another "
                   "tab).", icon=":material/info:")
        state.thread_id = None
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")


@st.dialog("Delete this conversation?")
def confirm_delete(thread_id: str, title: str) -> None:
    """Ask before deleting: a deleted thread and its history cannot come back."""
    st.write(f"**{plain(title)}** and all its history will be deleted.")
    if st.button("Delete", type="primary", icon=":material/delete:"):
        with shown_errors():
            support.delete_thread(user.user_id, thread_id)
            state.thread_id = None
            st.rerun()


if view is None:
    st.title("New conversation")
    st.caption("Ask about your orders, tracking, refunds, cancellations, address changes or "
               "our policies.")
else:
    words, colour = status_label(view.thread.status)
    title, actions = st.columns([4, 2], vertical_alignment="center")
    title.subheader(plain(view.thread.title))
    title.badge(words, color=colour)
    rename, remove = actions.columns(2)
    with rename.popover("Rename", icon=":material/edit:", width="stretch"):
        # Keyed per thread: a box kept from another thread would rename this one to its title.
        new_title = st.text_input("Title", value=view.thread.title,
                                  key=f"rename_title-{view.thread.thread_id}")
        if st.button("Save", key=f"rename_save-{view.thread.thread_id}"):
            with shown_errors():
                support.rename_thread(user.user_id, view.thread.thread_id, new_title)
                st.rerun()
    if remove.button("Delete", icon=":material/delete:", width="stretch"):
        confirm_delete(view.thread.thread_id, view.thread.title)
    if view.summary:
        with st.expander("Summary of earlier messages", icon=":material/summarize:"):
            st.text(view.summary)
    render_messages(view.messages)


@st.fragment(run_every=POLL_SECONDS)
def wait_for_supervisor(thread_id: str) -> None:
    """While a supervisor decides, check back; show the outcome without a manual reload."""
    try:
        current = support.view_thread(user.user_id, thread_id)
    except SupportError as exc:
        st.error(str(exc))
        return
    if current.thread.status != "awaiting_approval":
        st.rerun(scope="app")
    for pending in current.pending_approvals:
        st.info(f"Waiting for a supervisor to approve **{pending.action.replace('_', ' ')}** "
                f"({plain(', '.join(f'{k}: {v}' for k, v in pending.arguments.items()))}). "
                "The reply appears here once they decide.", icon=":material/hourglass_top:")


awaiting = view is not None and view.thread.status == "awaiting_approval"
if awaiting:
    wait_for_supervisor(view.thread.thread_id)
elif view is not None and view.thread.status == "interrupted":
    st.warning("The last reply was interrupted before it finished. Resume it, or just write "
               "again: it is finished first.", icon=":material/restart_alt:")
    if st.button("Resume", icon=":material/play_arrow:"):
        with st.spinner("Resuming..."), shown_errors():
            for _ in support.resume(user.user_id, view.thread.thread_id):
                pass
            st.rerun()

if state.thread_id:
    st.query_params["thread"] = state.thread_id
else:
    st.query_params.pop("thread", None)

# No max_chars here: a message over the limit is refused by the desk with a message saying
# so, rather than cut short or silently ignored by the browser.
prompt = st.chat_input("Ask about your orders...", disabled=awaiting)
if prompt is not None and not prompt.strip():
    st.warning("The message is empty.", icon=":material/info:")
    prompt = None
if prompt:
    with st.chat_message("user"):
        st.markdown(plain(prompt))
    ended: list[TurnEndedEvent] = []
    with st.chat_message("assistant"):
        activity = st.status("Working on it...", expanded=False)

        def reply_tokens():
            """The reply's tokens, as they stream; tool activity goes to the status box."""
            for event in support.send_message(user.user_id, prompt, thread_id=state.thread_id):
                if isinstance(event, TokenEvent):
                    yield event.text
                elif isinstance(event, ToolCallEvent):
                    activity.update(label=f"Using {event.name}...")
                    activity.write(f":material/build: {event.name}")
                elif isinstance(event, ToolResultEvent):
                    activity.write(f"{'ok' if event.ok else 'failed'}: "
                                   f"{plain(event.text.splitlines()[0])}")
                elif isinstance(event, HousekeepingEvent):
                    activity.write(f"{event.kind}: {event.removed_messages} older messages "
                                   "folded into the summary")
                elif isinstance(event, ApprovalRequestedEvent):
                    activity.update(label="Waiting for a supervisor", state="complete")
                elif isinstance(event, TurnEndedEvent):
                    ended.append(event)

        try:
            shown, reply = st.empty(), ""
            for token in reply_tokens():
                reply += token
                # Redrawn as it grows, through the same filter as a stored reply: a reply can
                # quote the customer, whose links and images must not render.
                shown.markdown(without_links(reply))
            activity.update(label="Done", state="complete")
        except SupportError as exc:
            activity.update(label="Not done", state="error")
            st.error(str(exc), icon=":material/error:")
    if ended:
        state.thread_id = ended[-1].thread_id
        st.rerun()
