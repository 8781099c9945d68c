"""Chat messages: customer, assistant and support-team bubbles.

Customers see words only: what a tool call does ("Checking order ORD-1002"), never a tool's
name, arguments or raw result. Supervisors may ask for the technical detail as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from agent.views import ChatMessage
from ui.components.text import plain, without_links

STAFF_AVATAR = ":material/support_agent:"


def render_messages(messages: list[ChatMessage], *, technical: bool = False,
                    feedback: Callable[[ChatMessage], None] | None = None,
                    attachments: Callable[[ChatMessage], None] | None = None) -> None:
    """The conversation, a bubble per person; `feedback` draws controls under each reply,
    `attachments` a customer message's files in its bubble."""
    progress: list[str] = []  # what the assistant did since its last words, for the next bubble
    for message in messages:
        if message.role == "customer":
            _flush(progress)
            with st.chat_message("user"):
                if message.text:
                    st.markdown(plain(message.text))
                if attachments and message.attachments:
                    attachments(message)
        elif message.role == "staff":
            _flush(progress)
            staff_bubble(message)
        elif message.role == "assistant":
            if technical:
                with st.chat_message("assistant"):
                    for call in message.tool_calls:
                        st.caption(f":material/build: {call['name']}"
                                   f"({plain(json.dumps(call['args']))})")
                    if message.text:
                        st.markdown(without_links(message.text))
                        if feedback:
                            feedback(message)
                continue
            progress += message.progress
            if message.text:
                with st.chat_message("assistant"):
                    _steps(progress)
                    progress.clear()
                    st.markdown(without_links(message.text))
                    if feedback:
                        feedback(message)
        elif message.role == "tool" and technical:
            icon = ":material/check_circle:" if message.ok else ":material/cancel:"
            first_line = message.text.splitlines()[0] if message.text else ""
            st.caption(f"{icon} {message.tool_name}: {plain(first_line)}")
    _flush(progress)


def staff_bubble(message: ChatMessage) -> None:
    """A supervisor's message, marked as from a person on the support team."""
    with st.chat_message("staff", avatar=STAFF_AVATAR):
        st.markdown(f"**{plain(message.author or 'Support team')}** "
                    ":violet-badge[:material/person: support team]")
        st.markdown(without_links(message.text))


def _steps(progress: list[str]) -> None:
    for words in dict.fromkeys(progress):  # once each, in order
        st.caption(f"{plain(words)}…")


def _flush(progress: list[str]) -> None:
    """Steps with no reply after them yet (a request waiting for approval) get their own bubble."""
    if progress:
        with st.chat_message("assistant"):
            _steps(progress)
        progress.clear()
