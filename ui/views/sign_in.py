"""Sign in: through the identity provider (SUPPORT_AUTH=oidc), else pick a user (local)."""

from __future__ import annotations

import streamlit as st

from ui.session import desk, shown_errors, sign_in_locally, uses_oidc

st.title("Support agent")

if uses_oidc():
    st.write("Sign in with your organisation's account.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    if st.user.is_logged_in:
        # Logged in at the provider, but no account matches (signed_in_user raised).
        st.error(f"No support-agent account belongs to {st.user.email}.")
    st.stop()

st.warning("**Local mode.** Sign-in is local (`SUPPORT_AUTH=local`), so you pick who to be. "
           "Use it to try the app; set `SUPPORT_AUTH=oidc` for real sign-in (see the README).",
           icon=":material/warning:")
with shown_errors():
    users = desk().users()
    if not users:  # e.g. a new PostgreSQL database: nobody is added until an operator does
        st.info("There are no users yet. Add them with `support-agent users add`, or add the "
                "demo shop with `support-agent seed --demo`.", icon=":material/person_add:")
        st.stop()
    # A disabled account stays listed, so that picking it says why it cannot sign in.
    labels = {u.user_id: f"{u.display_name} - {u.role}, {u.tenant}"
                         + (" (disabled)" if u.disabled else "") for u in users}
    with st.form("sign-in"):
        chosen = st.selectbox("Sign in as", list(labels), format_func=labels.__getitem__,
                              key="sign_in_user")
        if st.form_submit_button("Sign in", type="primary", icon=":material/login:"):
            sign_in_locally(chosen)
            st.rerun()
