"""Fixtures for the Streamlit UI tests: the real app under AppTest, on a real SQLite file.

Each test gets its own database file (SUPPORT_SQLITE_PATH) and its own SupportDesk: the app's
`get_desk()` cache is cleared before and after, so no desk leaks from one test to the next.
The `desk` fixture is the very desk the app uses (one server process); `other_desk` is a
second instance on the same file (another server process), for changes made "elsewhere".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk
from agent.settings import load_settings
from ui.session import get_desk

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
RUN_TIMEOUT = 60  # seconds per script run; a loaded shared machine can be slow

@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra SUPPORT_* settings for the app; a test overrides it with parametrize."""
    return {}


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]) -> Path:
    """A fresh SQLite file; the app reads it from SUPPORT_SQLITE_PATH as in production."""
    path = tmp_path / "data" / "support.db"
    monkeypatch.setenv("SUPPORT_SAVER", "sqlite")
    monkeypatch.setenv("SUPPORT_SQLITE_PATH", str(path))
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    return path


@pytest.fixture
def desk(db_path: Path) -> Iterator[SupportDesk]:
    """The desk the app will use (it is put in the app's cache), closed afterwards."""
    get_desk.clear()
    opened = get_desk()  # outside a script run this fills the same process-wide cache
    try:
        yield opened
    finally:
        get_desk.clear()
        opened.close()


@pytest.fixture
def other_desk(db_path: Path) -> Iterator[SupportDesk]:
    """A second desk on the same database: another server process, acting elsewhere."""
    with SupportDesk.open(load_settings()) as opened:
        yield opened


@pytest.fixture
def open_app(desk: SupportDesk) -> Callable[..., AppTest]:
    """Start the app, optionally signed in as someone, and return it after the first run."""

    def start(user_id: str | None = None, *, secrets: dict[str, Any] | None = None,
              identity: dict[str, Any] | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        if secrets:
            at.secrets.update(secrets)
        if identity is not None:  # what st.user holds (the identity provider's claims)
            at.user = identity
        if user_id:
            at.session_state["user_id"] = user_id
        return at.run()

    return start
