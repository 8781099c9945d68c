"""The sidebar status area, and what the app says about how people sign in on this instance."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from agent.domain.shop import User

GUIDE = "the README's *Deploying for a team*"


def status_area(description: dict[str, str], user: User | None, *, local_mode: bool,
                on_sign_out: Callable[[], None]) -> None:
    """Signed-in user (with sign out) and the saver, database, Redis, locks and model."""
    if user is not None:
        st.markdown(f"**{user.display_name}**  \n{user.role} · {user.tenant}")
        st.button("Sign out", icon=":material/logout:", on_click=on_sign_out,
                  key="sign_out", width="stretch")
    if local_mode:
        st.badge("Local sign-in mode", icon=":material/warning:", color="orange",
                  help="Sign-in is local (SUPPORT_AUTH=local): anyone can sign in as any "
                       "user. Set SUPPORT_AUTH=oidc and configure your identity provider in "
                       ".streamlit/secrets.toml for real sign-in.")
    with st.expander("System status", icon=":material/dns:"):
        for key in ("saver", "database", "redis", "locks", "model", "sign-in"):
            if key in description:
                st.caption(f"**{key}**: {description[key]}")


def local_sign_in_refused(database: str) -> None:
    """The whole page when local sign-in would serve a shared database: what to set instead."""
    st.title("Support agent")
    st.error("**This app does not serve a shared database with local sign-in.** It runs on "
             f"`{database}`, and sign-in is local (`SUPPORT_AUTH=local`): anyone who opens "
             "this page could pick any user, supervisors included.", icon=":material/block:")
    st.markdown(
        "To serve it, set one of these and restart the app:\n\n"
        "- **`SUPPORT_AUTH=oidc`** (the default for PostgreSQL) and an `[auth]` section in "
        "`.streamlit/secrets.toml`: people sign in with your identity provider.\n"
        "- **`SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true`**: keeps local sign-in on purpose, for "
        "a trial on a private network. Every page then says so in a red banner.\n\n"
        f"See {GUIDE}.")


def oidc_not_configured(*, shared_database: bool) -> None:
    """The whole page when sign-in is OIDC but secrets.toml has no [auth] section."""
    st.title("Support agent")
    st.error("**Sign-in is set to your identity provider (`SUPPORT_AUTH=oidc`), but "
             "`.streamlit/secrets.toml` has no `[auth]` section**, so nobody can sign in.",
             icon=":material/key_off:")
    local = ("`SUPPORT_AUTH=local` with `SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true`, for a "
             "trial on a private network" if shared_database
             else "`SUPPORT_AUTH=local`, to try the app on your own machine")
    st.markdown("Add the `[auth]` section (redirect URI, cookie secret, client id and secret, "
                f"the provider's metadata URL) and restart the app, or set {local}. "
                f"See {GUIDE}.")


def local_sign_in_banner() -> None:
    """The loud banner on every page while local sign-in serves a shared database."""
    # A solid red strip rather than st.error: it is a standing notice about the instance, and a
    # page's own errors stay the only error alerts on it. The text is fixed: nothing from a
    # user or the database goes into this HTML.
    st.html(f'<div role="alert" style="{_BANNER_STYLE}"><strong>⚠ Local sign-in on a shared '
            "database.</strong> Anyone who can open this app can act as any user, supervisors "
            f'included (<code style="{_CODE_STYLE}">SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true'
            "</code>). Use it only for a trial; set "
            f'<code style="{_CODE_STYLE}">SUPPORT_AUTH=oidc</code> for real use.</div>')


_BANNER_STYLE = ("background:#b71c1c;color:#fff;padding:0.75rem 1rem;border-radius:0.5rem;"
                 "font-size:1rem;line-height:1.5")
_CODE_STYLE = "color:#fff;background:rgba(255,255,255,0.18);padding:0 0.25rem;border-radius:3px"
