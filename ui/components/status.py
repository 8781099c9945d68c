"""The sidebar status area: who is signed in and what this instance runs on."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from agent.domain.shop import User


def status_area(description: dict[str, str], user: User | None, *, local_mode: bool,
                on_sign_out: Callable[[], None]) -> None:
    """Signed-in user (with sign out) and the saver, database, Redis, locks and model."""
    if user is not None:
        st.markdown(f"**{user.display_name}**  \n{user.role} · {user.tenant}")
        st.button("Sign out", icon=":material/logout:", on_click=on_sign_out,
                  key="sign_out", width="stretch")
    if local_mode:
        st.badge("Local sign-in mode", icon=":material/warning:", color="orange",
                  help="No identity provider is configured: anyone can sign in as any seeded "
                       "user. Configure OIDC in .streamlit/secrets.toml for real sign-in.")
    with st.expander("System status", icon=":material/dns:"):
        for key in ("saver", "database", "redis", "locks", "model"):
            if key in description:
                st.caption(f"**{key}**: {description[key]}")
