"""A disabled account in the Streamlit UI: refused at sign-in, in place, and told why.

Driven by AppTest on a real SQLite file (see conftest.py); the account is disabled through
the façade, as `support-agent users disable` does.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk

OIDC = {"auth": {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "support-agent",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
}}


def errors(at: AppTest) -> list[str]:
    """The text of every error alert shown."""
    return [e.value for e in at.error]


def titles(at: AppTest) -> list[str]:
    """The page titles shown."""
    return [t.value for t in at.title]


def test_local_sign_in_refuses_a_disabled_account_in_place(open_app,
                                                           desk: SupportDesk) -> None:
    """Picking a disabled user shows the reason on the sign-in page and signs nobody in."""
    desk.disable_user("bob")
    at = open_app()
    picker = at.selectbox(key="sign_in_user")
    assert "Bob Chen - customer, acme (disabled)" in picker.options
    picker.select("bob")
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("account bob is disabled" in e for e in errors(at)), errors(at)
    assert titles(at) == ["Support agent"]
    assert "user_id" not in at.session_state


def test_a_signed_in_user_who_is_disabled_is_told_so(open_app, desk: SupportDesk) -> None:
    """Disabled while signed in: the next page run says so and offers no page."""
    at = open_app("alice")
    assert titles(at) == ["New conversation"]
    desk.disable_user("alice")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("account alice is disabled" in e for e in errors(at)), errors(at)
    assert "New conversation" not in titles(at)
    assert any(b.label == "Sign out" for b in at.button)


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_oidc_identity_of_a_disabled_account_is_refused(open_app, desk: SupportDesk) -> None:
    """An identity-provider sign-in that matches a disabled account is refused, with why."""
    desk.disable_user("sam")
    at = open_app(secrets=OIDC, identity={"is_logged_in": True,
                                          "email": "sam@acme.example.com"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("account sam is disabled" in e for e in errors(at)), errors(at)
    assert "Approvals" not in titles(at)


@pytest.mark.parametrize("app_env", [{"SUPPORT_SEED_DEMO": "0"}])
def test_sign_in_without_any_user_says_how_to_add_one(open_app, desk: SupportDesk) -> None:
    """A database with no users yet (no demo seed): the page says how to add them."""
    assert desk.users() == []
    at = open_app()
    assert not at.exception, [e.value for e in at.exception]
    assert any("support-agent users add" in i.value and "seed --demo" in i.value
               for i in at.info), [i.value for i in at.info]
    assert not at.form_submit_button
