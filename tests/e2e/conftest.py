"""Browser fixtures: the real Streamlit app as a server process, driven by headless Chromium.

One server per test session, on a fresh SQLite file with the offline model; a SupportDesk in
this process opens the same file to set up and verify what the browser did. Chromium is
Debian's /usr/bin/chromium, never a downloaded browser. Outside CI a missing Chromium skips
the browser tests with instructions; with CI=true it fails them.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # reported by the `browser` fixture, like a missing Chromium
    sync_playwright = None

from servers import TIMEOUT_MS, VIEWPORT, AppServer, BrowserPages
from support.server_process import seeded_desk
from support.services import missing_service

from agent.service import SupportDesk

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]


@dataclass(frozen=True)
class App:
    """The running app: its address, its database file and a desk on that same file."""

    url: str
    sqlite_path: Path
    desk: SupportDesk
    log_path: Path


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """`streamlit run ui/app.py` on a fresh SQLite file and a free port; stopped at the end."""
    workdir = tmp_path_factory.mktemp("ui-server")
    sqlite_path = workdir / "ui.db"

    desk = seeded_desk(workdir, sqlite_path)

    # The server runs in the temp dir, so a .env or .streamlit/secrets.toml of the repository
    # (OIDC!) cannot change what the tests see.
    server = AppServer({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(sqlite_path)},
                       workdir)
    try:
        try:
            server.start()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield App(server.url, sqlite_path, desk, server.log_path)
    finally:
        server.stop()
        desk.close()
        # Keep the server log next to the screenshots: the first place to look after a failure.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, launched once per session."""
    if sync_playwright is None:
        missing_service("The playwright package is missing: install the dev extras with "
                         "`.venv/bin/pip install -e '.[dev]'` (never run `playwright install`).")
    if not CHROMIUM.exists():
        missing_service(f"{CHROMIUM} is missing: install Debian's Chromium with "
                         "`apt-get install chromium` (the tests never download a browser).")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


_open_contexts: list[BrowserContext] = []  # for screenshots when a test fails


@pytest.fixture(scope="session")
def make_context(browser: Browser, app: App) -> Callable[[], BrowserContext]:
    """A factory of fresh browser contexts (one per person: own cookies, own Streamlit session).

    The caller closes what it makes; `new_page` does that for a test.
    """

    def make() -> BrowserContext:
        context = browser.new_context(base_url=app.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("close", lambda closed: _open_contexts.remove(closed))
        _open_contexts.append(context)
        return context

    return make


@pytest.fixture
def new_page(make_context: Callable[[], BrowserContext]) -> Iterator[Callable[[], Page]]:
    """A factory of pages, each in its own context, closed after the test."""
    made: list[BrowserContext] = []

    def open_page() -> Page:
        context = make_context()
        made.append(context)
        return context.new_page()

    yield open_page
    for context in made:
        context.close()


@pytest.fixture
def pages_on(browser: Browser, request: pytest.FixtureRequest, artifacts: Path
             ) -> Iterator[Callable[[str], Page]]:
    """A factory of pages on a given server (a test's own), each in a fresh browser context;
    on failure every page is screenshotted before it closes."""
    opened: list[BrowserPages] = []
    failed_before = request.session.testsfailed

    def open_page(url: str) -> Page:
        pages = BrowserPages(browser, url)
        opened.append(pages)
        return pages.open()

    yield open_page
    for pages in opened:
        if request.session.testsfailed > failed_before:
            pages.screenshot_all(artifacts, request.node.name)
        pages.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored), emptied of an earlier run's so none looks current."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Screenshot every open page when a browser test fails, before its contexts close."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, context in enumerate(list(_open_contexts)):
            for index, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # a dead page must not hide the failure
                    page.screenshot(path=ARTIFACTS / f"{item.name}-failed-{number}-{index}.png",
                                    full_page=True)
    return report
