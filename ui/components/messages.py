"""Chat messages: customer and assistant bubbles, tool activity shown compactly."""

from __future__ import annotations

import json

import streamlit as st

from agent.views import ChatMessage
from ui.components.text import plain, without_links


def render_messages(messages: list[ChatMessage]) -> None:
    """The conversation: a bubble per person, tool calls and results as small lines."""
    for message in messages:
        if message.role == "customer":
            with st.chat_message("user"):
                st.markdown(plain(message.text))
        elif message.role == "assistant":
            with st.chat_message("assistant"):
                for call in message.tool_calls:
                    st.caption(f":material/build: {call['name']}"
                               f"({plain(json.dumps(call['args']))})")
                if message.text:
                    st.markdown(without_links(message.text))
        elif message.role == "tool":
            icon = ":material/check_circle:" if message.ok else ":material/cancel:"
            first_line = message.text.splitlines()[0] if message.text else ""
            st.caption(f"{icon} {message.tool_name}: {plain(first_line)}")
