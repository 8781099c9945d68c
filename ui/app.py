"""Streamlit entry point (placeholder until the UI issue lands)."""

import streamlit as st

st.set_page_config(page_title="Support agent", page_icon=":speech_balloon:")
st.title("Support agent")
st.info("The chat UI is being built. Meanwhile use the CLI: `support-agent chat --user alice`.")
