"""Customer chat: own threads in the sidebar, the conversation, streamed replies.

The customer sees words, never internals: what the assistant is doing ("Checking order
ORD-1002"), what waits for a supervisor, and replies from a person when one handles the thread.
"""

from __future__ import annotations

import streamlit as st

from agent.domain.feedback import CONVERSATION
from agent.errors import NotFound, SupportError
from agent.views import (
    ApprovalRequestedEvent,
    ChatMessage,
    ThreadView,
    TokenEvent,
    ToolCallEvent,
    TurnEndedEvent,
)
from ui.components.attachments import (
    PICKABLE_TYPES,
    attachment_list,
    loader_for,
    uploaded_list,
)
from ui.components.live import follow_updates, live_since, poll_every
from ui.components.messages import render_messages
from ui.components.text import plain, status_label, without_links
from ui.components.threads import pager, thread_list
from ui.session import desk, require_user, shown_errors

PAGE_SIZE = 15
POLL_SECONDS = 2
PERSON_REQUEST = "I'd like to talk to a person, please."

user = require_user()
support = desk()
state = st.session_state
# The open thread is also in the URL, so a reload (or a shared link) reopens it.
state.setdefault("thread_id", st.query_params.get("thread"))
state.setdefault("thread_offset", 0)
# Taken before anything is read: a change made meanwhile still reruns the page.
since = live_since(support, user.tenant, state.thread_id)

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


@st.dialog("Close this conversation")
def close_with_rating(thread_id: str) -> None:
    """Close the thread, with an optional 1-5 rating of how it went."""
    st.write("How satisfied are you with the help you got?")
    stars = st.feedback("stars", key=f"stars-{thread_id}")
    comment = st.text_area("Anything you want to tell us? (optional)", max_chars=2000,
                           key=f"comment-{thread_id}")
    if st.button("Close conversation", type="primary", icon=":material/task_alt:"):
        with shown_errors():
            if stars is None:
                support.close_thread(user.user_id, thread_id)
            else:
                support.close_with_rating(user.user_id, thread_id, stars + 1, comment)
            st.rerun()


def my_ratings(thread_id: str) -> dict[str, int]:
    """This customer's ratings on the thread (none if they cannot be read now)."""
    try:
        return support.my_ratings(user.user_id, thread_id)
    except SupportError:
        return {}


def thumbs(message: ChatMessage, ratings: dict[str, int]) -> None:
    """Thumbs up/down under one of the assistant's replies, stored as soon as it is clicked."""
    if not message.id or state.thread_id is None:
        return
    key = f"thumbs-{message.id}"
    thread_id = state.thread_id

    def rated() -> None:
        value = state.get(key)
        if value is None:
            return  # un-selecting keeps the earlier rating
        try:
            support.rate_reply(user.user_id, thread_id, message.id, 1 if value == 1 else -1)
        except SupportError as exc:
            state.feedback_error = str(exc)

    score = ratings.get(message.id)
    st.feedback("thumbs", key=key, on_change=rated,
                default=None if score is None else (1 if score > 0 else 0))


if error := state.pop("feedback_error", None):
    st.error(f"Your rating was not saved: {error}", icon=":material/error:")

if view is None:
    st.title("New conversation")
    st.caption("Ask about your orders, tracking, refunds, cancellations, address changes or "
               "our policies.")
else:
    words, colour = status_label(view.thread.status)
    if view.handoff is not None and view.handoff.status == "waiting":
        words, colour = "waiting for a person", "orange"
    title, actions = st.columns([4, 3], vertical_alignment="center")
    title.subheader(plain(view.thread.title))
    title.badge(words, color=colour)
    rename, close, remove = actions.columns(3)
    with rename.popover("Rename", icon=":material/edit:", width="stretch"):
        # Keyed per thread: a box kept from another thread would rename this one to its title.
        new_title = st.text_input("Title", value=view.thread.title,
                                  key=f"rename_title-{view.thread.thread_id}")
        if st.button("Save", key=f"rename_save-{view.thread.thread_id}"):
            with shown_errors():
                support.rename_thread(user.user_id, view.thread.thread_id, new_title)
                st.rerun()
    if close.button("Close", icon=":material/task_alt:", width="stretch",
                    disabled=view.thread.status in ("closed", "awaiting_approval"),
                    help="Close the conversation and tell us how it went"):
        close_with_rating(view.thread.thread_id)
    if remove.button("Delete", icon=":material/delete:", width="stretch"):
        confirm_delete(view.thread.thread_id, view.thread.title)
    if view.summary:
        with st.expander("Summary of earlier messages", icon=":material/summarize:"):
            st.text(view.summary)
    ratings = my_ratings(view.thread.thread_id)
    load = loader_for(support, user.user_id, view.thread.thread_id)
    render_messages(view.messages, feedback=lambda message: thumbs(message, ratings),
                    attachments=lambda message: attachment_list(
                        message.attachments, load, key=f"file-{message.id}"))
    if view.thread.status == "closed" and CONVERSATION in ratings:
        st.caption(f"You rated this conversation {'★' * ratings[CONVERSATION]}"
                   f"{'☆' * (5 - ratings[CONVERSATION])}. Thank you!")


@st.fragment(run_every=poll_every(since, POLL_SECONDS))
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
        what = pending.in_words or (pending.label or "your request").lower()
        st.info(f"Waiting for a supervisor to approve {plain(what)}. The reply appears here "
                "once they decide.", icon=":material/hourglass_top:")


@st.fragment(run_every=poll_every(since, POLL_SECONDS))
def with_a_person(thread_id: str, seen_checkpoint: str | None) -> None:
    """While a person handles the thread, show their replies as soon as they are written."""
    try:
        current = support.view_thread(user.user_id, thread_id)
    except SupportError as exc:
        st.error(str(exc))
        return
    if current.checkpoint_id != seen_checkpoint or current.thread.status != "handoff":
        st.rerun(scope="app")
    handoff = current.handoff
    if handoff is not None and handoff.status == "with_person" and handoff.person_name:
        st.info(f"**{plain(handoff.person_name)}** from our support team is handling this "
                "conversation. Write here and they will answer.",
                icon=":material/support_agent:")
    else:
        st.info("A member of our support team has been asked to join. They will reply here; "
                "you can keep writing meanwhile.", icon=":material/support_agent:")


@st.fragment(run_every=poll_every(since, POLL_SECONDS))
def while_running(thread_id: str) -> None:
    """While a turn runs elsewhere (a person's reply, another tab), wait for it to end.

    Without this a page drawn mid-turn would stop following the thread: no other poller runs
    while the status is `running`.
    """
    try:
        current = support.view_thread(user.user_id, thread_id)
    except SupportError as exc:
        st.error(str(exc))
        return
    if current.thread.status != "running":
        st.rerun(scope="app")
    st.caption("Working on it…")


awaiting = view is not None and view.thread.status == "awaiting_approval"
with_person = view is not None and view.thread.status == "handoff"
if view is not None and view.thread.status == "running":
    while_running(view.thread.thread_id)
elif awaiting:
    wait_for_supervisor(view.thread.thread_id)
elif with_person:
    with_a_person(view.thread.thread_id, view.checkpoint_id)
elif view is not None and view.thread.status == "interrupted":
    st.warning("The last reply was interrupted before it finished. Resume it, or just write "
               "again: it is finished first.", icon=":material/restart_alt:")
    if st.button("Resume", icon=":material/play_arrow:"):
        with st.spinner("Resuming..."), shown_errors():
            for _ in support.resume(user.user_id, view.thread.thread_id):
                pass
            st.rerun()

if view is not None and view.thread.thread_id == state.thread_id:
    # A reply, a decision, a person's message from any instance reruns the page at once.
    follow_updates(support, user.tenant, view.thread.thread_id, since)

if state.thread_id:
    st.query_params["thread"] = state.thread_id
else:
    st.query_params.pop("thread", None)

# No max_chars here: a message over the limit is refused by the desk with a message saying
# so, rather than cut short or silently ignored by the browser. Files likewise: the desk says
# which one it refuses and why (size, type by content, name); the picker only helps choose.
submitted = st.chat_input("Ask about your orders...", disabled=awaiting, accept_file="multiple",
                          file_type=PICKABLE_TYPES,
                          max_upload_size=max(1, -(-support.settings.attachment_max_bytes
                                                   // (1024 * 1024))))
prompt = submitted.text if submitted is not None else None
files = list(submitted.files) if submitted is not None else []
if submitted is not None and not (prompt or "").strip() and not files:
    st.warning("The message is empty.", icon=":material/info:")
    prompt = None
if not awaiting and not with_person and st.button(
        "Talk to a person", icon=":material/support_agent:",
        help="Ask a member of our support team to join this conversation"):
    prompt, files = PERSON_REQUEST, []
attachments = [(file.name, file.type or "", file.getvalue()) for file in files]


def my_bubble() -> None:
    """What the customer just sent, shown at once while the turn runs."""
    with st.chat_message("user"):
        if prompt:
            st.markdown(plain(prompt))
        uploaded_list(files)


if (prompt or files) and with_person:
    my_bubble()
    # A person handles the thread: the assistant stays quiet, so no reply bubble waits here.
    with st.spinner("Sending..."):
        try:
            for _ in support.send_message(user.user_id, prompt or "",
                                          thread_id=state.thread_id, attachments=attachments):
                pass
        except SupportError as exc:
            # Plain: a refusal quotes what the customer sent (a file's name), never markup.
            st.error(plain(str(exc)), icon=":material/error:")
        else:
            st.rerun()
elif prompt or files:
    my_bubble()
    ended: list[TurnEndedEvent] = []
    with st.chat_message("assistant"):
        activity = st.status("Working on it...", expanded=False)

        def reply_tokens():
            """The reply's tokens, as they stream; tool activity goes to the status box."""
            for event in support.send_message(user.user_id, prompt or "",
                                              thread_id=state.thread_id,
                                              attachments=attachments):
                if isinstance(event, TokenEvent):
                    yield event.text
                elif isinstance(event, ToolCallEvent):
                    words = plain(event.progress or "Working on it")
                    activity.update(label=f"{words}…")
                    activity.write(f":material/manage_search: {words}")
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
            # Plain: a refusal quotes what the customer sent (a file's name), never markup.
            st.error(plain(str(exc)), icon=":material/error:")
    if ended:
        state.thread_id = ended[-1].thread_id
        st.rerun()
