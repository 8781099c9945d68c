"""What a team's operator sees in the browser when sign-in and the database do not fit: local
sign-in refused on PostgreSQL, OIDC chosen without an [auth] section, and the red banner when
local sign-in on PostgreSQL is allowed on purpose. Screenshots go to test-artifacts/e2e/.

Each case runs its own `streamlit run` server (tests/e2e/servers.py). The refusals happen
before the database is opened, so they point at a PostgreSQL address where nothing listens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from servers import AppServer, BrowserPages, snap_whole
from test_browser import SAM, main, sidebar, sign_in

pytestmark = pytest.mark.browser

NOWHERE = "postgresql://support:s3cret-pw@127.0.0.1:9/support"


@pytest.fixture
def serve(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest,
          artifacts: Path) -> Iterator[Callable[[dict[str, str]], Page]]:
    """Start a server with these settings and open a page on it (both closed afterwards)."""
    started: list[tuple[AppServer, BrowserPages]] = []
    failed_before = request.session.testsfailed

    def start(settings: dict[str, str]) -> Page:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        server = AppServer(settings, workdir)
        server.start()
        pages = BrowserPages(browser, server.url)
        started.append((server, pages))
        return pages.open()

    yield start
    for server, pages in started:
        if request.session.testsfailed > failed_before:
            pages.screenshot_all(artifacts, request.node.name)
        pages.close()
        server.stop()


def test_local_sign_in_on_postgres_is_refused_with_what_to_set(serve, artifacts: Path) -> None:
    """The operator reads why nothing is served and the two settings that would serve it."""
    page = serve({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": NOWHERE,
                  "SUPPORT_AUTH": "local"})
    page.goto("/")
    expect(main(page)).to_contain_text(
        "This app does not serve a shared database with local sign-in.")
    expect(main(page)).to_contain_text("SUPPORT_AUTH=oidc")
    expect(main(page)).to_contain_text("SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true")
    expect(main(page)).to_contain_text("postgresql://support:***@127.0.0.1:9/support")
    expect(page.get_by_role("combobox", name="Sign in as")).to_have_count(0)
    assert "s3cret-pw" not in page.content()
    snap_whole(page, artifacts, "deploy-local-sign-in-refused")


def test_oidc_without_an_auth_section_says_what_to_add(serve, artifacts: Path) -> None:
    """PostgreSQL's default sign-in is OIDC; with no [auth] section the page says so."""
    page = serve({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": NOWHERE})
    page.goto("/")
    expect(main(page)).to_contain_text("has no [auth] section")
    expect(main(page)).to_contain_text("SUPPORT_AUTH=local")
    expect(page.get_by_role("combobox", name="Sign in as")).to_have_count(0)
    snap_whole(page, artifacts, "deploy-oidc-not-configured")


@pytest.mark.postgres
def test_allowed_local_sign_in_on_postgres_shows_the_banner(serve, postgres_url: str,
                                                             artifacts: Path) -> None:
    """Allowed on purpose: the app works, and every page says in red who can act as whom."""
    page = serve({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": postgres_url,
                  "SUPPORT_AUTH": "local", "SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB": "true"})
    page.goto("/")
    banner = main(page).get_by_text("Local sign-in on a shared database.")
    expect(banner).to_be_visible()
    snap_whole(page, artifacts, "deploy-local-sign-in-allowed-sign-in-page")
    sign_in(page, SAM)
    expect(main(page).get_by_role("heading", name="Approvals")).to_be_visible()
    expect(banner).to_be_visible()
    expect(sidebar(page)).to_contain_text("Local sign-in mode")
    snap_whole(page, artifacts, "deploy-local-sign-in-allowed-approvals")
