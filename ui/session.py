"""What every page shares: the desk (made once per server), the signed-in user, error display.

The user's role and tenant always come from the user record the desk returns; the browser
only ever names who signs in (local mode) or proves it through the identity provider (OIDC).
Which of the two is the SUPPORT_AUTH setting, never whether a secrets file happens to exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from agent.domain.shop import User
from agent.errors import NotFound, SupportError
from agent.service import SupportDesk
from agent.settings import Settings, load_settings

USER_KEY = "user_id"
USER_PARAM = "as"


@st.cache_resource(show_spinner="Opening the support desk...")
def get_desk() -> SupportDesk:
    """One SupportDesk per server process, shared by every browser session."""
    return SupportDesk.open(load_settings())


def desk() -> SupportDesk:
    """The shared desk (a failure to open it is shown by the app, not cached)."""
    return get_desk()


def app_settings() -> Settings:
    """The settings this server runs with, read before (and apart from) opening the desk."""
    # Not cached: reading them is cheap, and the sign-in mode must be known even when the
    # database cannot be opened (or must not be, as on a shared one in local mode).
    return load_settings()


def uses_oidc() -> bool:
    """True when people sign in through the identity provider (SUPPORT_AUTH=oidc)."""
    return desk().settings.auth == "oidc"


def oidc_configured() -> bool:
    """True when secrets.toml has the [auth] section st.login needs."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def signed_in_user() -> User | None:
    """The signed-in user's record, or None."""
    if uses_oidc():
        if not st.user.is_logged_in:
            return None
        return desk().user_by_email(str(st.user.email or ""))
    # Local mode keeps the choice in the URL too, so a page reload keeps you signed in.
    user_id = st.session_state.get(USER_KEY) or st.query_params.get(USER_PARAM)
    if not user_id:
        return None
    try:
        user = desk().user(user_id)
    except NotFound:
        st.session_state.pop(USER_KEY, None)
        st.query_params.pop(USER_PARAM, None)
        return None
    # Going to another page empties the URL's query, and a reload (or an app restart) empties
    # the session: keep the choice in both, so that neither signs the user out.
    st.session_state[USER_KEY] = st.query_params[USER_PARAM] = user.user_id
    return user


def sign_in_locally(user_id: str) -> None:
    """Local mode: remember who this browser session signed in as."""
    st.session_state[USER_KEY] = st.query_params[USER_PARAM] = desk().user(user_id).user_id


def sign_out() -> None:
    """Forget the signed-in user and everything this session selected."""
    for key in list(st.session_state):
        del st.session_state[key]
    st.query_params.clear()
    if uses_oidc():
        st.logout()


def require_user() -> User:
    """The signed-in user; pages are only reachable signed in, so this never stops a page."""
    user = signed_in_user()
    if user is None:
        st.stop()
    return user


@contextlib.contextmanager
def shown_errors() -> Iterator[None]:
    """Show a user-facing error in place, and let the rest of the page carry on."""
    try:
        yield
    except SupportError as exc:
        st.error(str(exc), icon=":material/error:")
