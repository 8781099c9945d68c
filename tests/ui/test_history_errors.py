"""The History page when the database fails part-way: the error in place, never a traceback.

Runs the real app under AppTest on a PostgreSQL database of its own. The failure is real and
confined to the thread listing: another session holds the registry table locked (as a long
migration would) while the database makes waiting statements give up after a second, so
signing in works and listing the user's threads fails the way an outage does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk
from ui.session import get_desk

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_desk(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SupportDesk]:
    """The app's own desk on a fresh PostgreSQL database where lock waits time out fast."""
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} SET lock_timeout = '1s'")
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_POSTGRES_URL", postgres_url)
    # Local sign-in on PostgreSQL is refused unless allowed (the test signs in as alice).
    monkeypatch.setenv("SUPPORT_AUTH", "local")
    monkeypatch.setenv("SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB", "true")
    get_desk.clear()
    opened = get_desk()  # the app finds it in its cache
    try:
        yield opened
    finally:
        get_desk.clear()
        opened.close()


def test_history_shows_a_failed_thread_listing_in_place(pg_desk: SupportDesk,
                                                         postgres_url: str) -> None:
    """No NameError: the listing's error is shown and the page stops there."""
    pg_desk.ask("alice", "Where is ORD-1002?")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user_id"] = "alice"
    at.run()
    at.switch_page("views/history.py").run()
    assert not at.exception and not at.error, "the page works while the database does"

    with psycopg.connect(postgres_url) as elsewhere:
        elsewhere.execute("LOCK TABLE support_threads IN ACCESS EXCLUSIVE MODE")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    [error] = [e.value for e in at.error]
    assert "lock timeout" in error and "try again" in error
    assert not at.dataframe, "nothing below the failed listing is drawn"
