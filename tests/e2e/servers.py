"""Streamlit servers of a test's own, and browser pages on them.

The session's shared `app` fixture runs one server on one SQLite file for every test. A test
that needs another database (PostgreSQL), a shop nobody else changes, or a restart of the app
in the middle of a story starts its own with `AppServer`: the same command, flags and
environment isolation as that fixture, on a free port that it keeps across restarts, so open
browser pages only need a reload to reach the new process. Only the process started here is
ever stopped (by its PID). `BrowserPages` opens pages on such a server, one browser context
per person.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from support.server_process import ServerProcess

if TYPE_CHECKING:  # the conftest reports a missing playwright package itself
    from playwright.sync_api import Browser, BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = REPO_ROOT / "ui" / "app.py"
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 30_000  # every click is a Streamlit rerun on a shared machine


def isolated_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any SUPPORT_*/OPENAI_* variable, plus `settings`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(settings)
    return env


class AppServer(ServerProcess):
    """`streamlit run ui/app.py` with the given SUPPORT_* settings, in its own working folder."""

    name = "the Streamlit server"

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        super().__init__(isolated_environment({"SUPPORT_MODEL": "offline", **settings}),
                         workdir, "streamlit.log")
        self.url = f"http://127.0.0.1:{self.port}/"

    @property
    def health_url(self) -> str:
        """Streamlit's own health check."""
        return f"{self.url}_stcore/health"

    def command(self) -> list[str]:
        """`streamlit run ui/app.py` on this server's port."""
        return [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
                "--server.port", str(self.port), "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1",
                # Others may edit ui/ while the tests run: no reload prompts mid-test.
                "--server.fileWatcherType", "none"]


class BrowserPages:
    """Pages on one server, each in a fresh browser context (own cookies, own session)."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self._contexts: list[BrowserContext] = []

    def open(self) -> Page:
        """A new page in a new context, on the server's address."""
        context = self.browser.new_context(base_url=self.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        self._contexts.append(context)
        return context.new_page()

    def screenshot_all(self, folder: Path, prefix: str) -> None:
        """Screenshot every open page (after a failure: the shared hook knows only its own)."""
        pages = [page for context in self._contexts for page in context.pages]
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):  # a dead page must not hide the failure
                page.screenshot(path=folder / f"{prefix}-failed-{index}.png", full_page=True)

    def close(self) -> None:
        """Close every context opened here."""
        for context in self._contexts:
            context.close()
        self._contexts.clear()


def snap_whole(page: Page, folder: Path, name: str) -> None:
    """Screenshot the whole page as <folder>/<name>.png.

    Streamlit scrolls its main area, not the document, so a full-page screenshot shows only
    the window: the window is made as tall as the content for the picture, then put back.
    """
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('section, div')]"
                           ".map(element => element.scrollHeight))")
    size = page.viewport_size or VIEWPORT
    # Room below the content for the chat input, which floats at the bottom of the window.
    page.set_viewport_size({"width": size["width"],
                            "height": max(size["height"], height + 200)})
    page.evaluate("() => document.querySelectorAll('section, div')"
                  ".forEach(element => { element.scrollTop = 0; })")
    page.wait_for_timeout(300)  # let the layout settle at the new size
    page.screenshot(path=folder / f"{name}.png", full_page=True)
    page.set_viewport_size(size)
