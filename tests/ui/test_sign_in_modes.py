"""Sign-in mode is the SUPPORT_AUTH setting: local for the embedded Quickstart, OIDC for a shared
database, and local sign-in on PostgreSQL refused unless explicitly allowed (then a banner).

The real app under AppTest. The refusals happen before the database is opened, so those tests
point the app at a PostgreSQL address where nothing listens: had the app tried to connect, it
would say it "cannot start" instead. The allowed case runs on a real PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk
from ui.session import get_desk

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
# Nothing listens on port 9 (discard) here; the password must never be shown.
NOWHERE = "postgresql://support:s3cret-pw@127.0.0.1:9/support"
OIDC = {"auth": {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "support-agent",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
}}
BANNER = "Local sign-in on a shared database.</strong>"
REFUSED = "This app does not serve a shared database with local sign-in."


def run_app(user_id: str | None = None, secrets: dict | None = None) -> AppTest:
    """The app's first run, as a fresh browser session sees it."""
    at = AppTest.from_file(APP, default_timeout=60)
    if secrets:
        at.secrets.update(secrets)
    if user_id:
        at.session_state["user_id"] = user_id
    return at.run()


def texts(elements) -> str:
    """The text of every element given, as one string."""
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture
def no_cached_desk() -> Iterator[None]:
    """No desk from another test in the app's cache, and none left behind."""
    get_desk.clear()
    yield
    get_desk.clear()


def test_postgres_in_local_mode_is_refused_with_what_to_set(
        monkeypatch: pytest.MonkeyPatch, no_cached_desk: None) -> None:
    """SUPPORT_AUTH=local on PostgreSQL, not allowed: a page naming both ways out, no picker."""
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_POSTGRES_URL", NOWHERE)
    monkeypatch.setenv("SUPPORT_AUTH", "local")
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Support agent"]
    [error] = [e.value for e in at.error]
    assert REFUSED in error and "cannot start" not in error
    assert "postgresql://support:***@127.0.0.1:9/support" in error
    guidance = texts(at.markdown)
    assert "SUPPORT_AUTH=oidc" in guidance and "[auth]" in guidance
    assert "SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true" in guidance
    assert not at.selectbox and not at.button and not at.sidebar.markdown
    assert "s3cret-pw" not in texts([*at.error, *at.markdown])


def test_a_signed_in_session_is_refused_too(monkeypatch: pytest.MonkeyPatch,
                                            no_cached_desk: None) -> None:
    """A session (or URL) that names a user gets the same refusal, never a page of the app."""
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_POSTGRES_URL", NOWHERE)
    monkeypatch.setenv("SUPPORT_AUTH", "local")
    at = run_app("sam")
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Support agent"]
    assert REFUSED in texts(at.error)


def test_postgres_defaults_to_oidc_and_says_the_auth_section_is_missing(
        monkeypatch: pytest.MonkeyPatch, no_cached_desk: None) -> None:
    """No SUPPORT_AUTH on PostgreSQL means OIDC; without [auth] secrets the page says so."""
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_POSTGRES_URL", NOWHERE)
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    error = texts(at.error)
    assert "SUPPORT_AUTH=oidc" in error and "no `[auth]` section" in error
    assert "cannot start" not in error and REFUSED not in error
    advice = texts(at.markdown)
    assert "SUPPORT_AUTH=local" in advice
    assert "SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true" in advice  # shared: both are needed
    assert not at.selectbox


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_sqlite_with_oidc_and_no_auth_section_says_what_to_add(open_app) -> None:
    """OIDC chosen on the embedded database, secrets missing: the same clear page."""
    at = open_app()
    assert not at.exception, [e.value for e in at.exception]
    assert "no `[auth]` section" in texts(at.error)
    advice = texts(at.markdown)
    assert "SUPPORT_AUTH=local" in advice and "SHARED_DB" not in advice
    assert not at.selectbox


def test_sqlite_defaults_to_local_sign_in_without_a_banner(open_app) -> None:
    """The Quickstart: the picker, the local-mode notices, and no shared-database banner."""
    at = open_app()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sign_in_user").options
    assert "SUPPORT_AUTH=local" in texts(at.warning)
    assert BANNER not in texts([*at.markdown, *at.html])
    assert "**sign-in**: local (anyone picks a user)" in texts(at.sidebar.caption)


def test_an_auth_section_alone_does_not_switch_the_sign_in_mode(open_app) -> None:
    """The setting decides, not the presence of secrets: SQLite with [auth] stays local."""
    at = open_app(secrets=OIDC)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sign_in_user").options
    assert [b.label for b in at.main.form_submit_button] == ["Sign in"]


@pytest.mark.postgres
@pytest.mark.parametrize("allowed", ["true", "1"])
def test_local_sign_in_allowed_on_postgres_shows_a_banner_on_every_page(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch, no_cached_desk: None,
        allowed: str) -> None:
    """Explicitly allowed: the app serves PostgreSQL, with the banner on sign-in and after."""
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("SUPPORT_AUTH", "local")
    monkeypatch.setenv("SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB", allowed)
    desk: SupportDesk = get_desk()
    try:
        at = run_app()
        assert not at.exception, [e.value for e in at.exception]
        assert BANNER in texts(at.html)
        assert at.selectbox(key="sign_in_user").options
        assert not at.error
        at = run_app("sam")
        assert not at.exception, [e.value for e in at.exception]
        assert [t.value for t in at.title] == ["Approvals"]
        assert BANNER in texts(at.html)
        assert "Local sign-in mode" in texts(at.sidebar.markdown)
    finally:
        get_desk.clear()
        desk.close()
