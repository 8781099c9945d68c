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
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the conftest reports a missing playwright package itself
    from playwright.sync_api import Browser, BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = REPO_ROOT / "ui" / "app.py"
START_SECONDS = 60
STOP_SECONDS = 10
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 30_000  # every click is a Streamlit rerun on a shared machine


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any SUPPORT_*/OPENAI_* variable, plus `settings`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(settings)
    return env


class AppServer:
    """`streamlit run ui/app.py` with the given SUPPORT_* settings, in its own working folder."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.env = isolated_environment({"SUPPORT_MODEL": "offline", **settings})
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / "streamlit.log"
        self.starts = 0
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it answers its health check."""
        command = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
                   "--server.port", str(self.port), "--server.headless", "true",
                   "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1",
                   # Others may edit ui/ while the tests run: no reload prompts mid-test.
                   "--server.fileWatcherType", "none"]
        self.starts += 1
        # Appended: the log of every start of this server stays in one file. The working
        # folder keeps the repository's .env and .streamlit/secrets.toml out of the test.
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self._process = subprocess.Popen(command, cwd=self.workdir, env=self.env,
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while not self._healthy():
            if self._process.poll() is not None:
                raise RuntimeError(f"the Streamlit server exited with "
                                   f"{self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Streamlit server did not answer {self.url} within "
                                   f"{START_SECONDS} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process this object started: politely, then for sure."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def restart(self) -> None:
        """Stop the server and start a new process on the same database and port."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the started process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for a failure message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _healthy(self) -> bool:
        # No proxy: a developer's HTTP(S)_PROXY must not intercept the local health check.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.url}_stcore/health", timeout=2) as response:
                return response.read().strip() == b"ok"
        except OSError:
            return False


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
