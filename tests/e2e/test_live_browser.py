"""End-to-end: two app instances on one PostgreSQL database and one Redis, updating each other live.

Alice chats on instance 1, Sam decides on instance 2. Her refund request appears in Sam's inbox
and his decision on her page without a reload, through Redis pub/sub: while updates arrive
live the pages re-read the database only every SAFETY_READ_SECONDS (60 s), so an update within
LIVE_MS can only have come as an event. Then Redis is killed (a throwaway redis-server: the
shared one is never stopped): both pages fall back to polling the database, still update, and
show no error. Screenshots go to test-artifacts/e2e/live-*.png.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from servers import AppServer, snap_whole
from support.redis_server import ThrowawayRedis
from test_browser import ALICE, SAM, assistant_bubbles, main, send, sidebar, sign_in

from agent.service import SupportDesk
from ui.components.live import SAFETY_READ_SECONDS

pytestmark = pytest.mark.browser

ASK = "Ask about your orders..."
WAITING = "Waiting for a supervisor to approve"
REFUND_REQUEST = "Please refund ORD-1001, the boots leak"
REFUNDED = "Refunded $129.00"
CANCEL_REQUEST = "Please cancel ORD-1003"
CANCELLED = "Cancelled ORD-1003"
# A deadline well inside the pages' safety re-read while live: an update seen within it came
# as an event. (A deadline for something to appear, not a timing under test.)
LIVE_MS = 15_000
POLLED_MS = 30_000  # after Redis is gone: the pages poll every 2 s (chat) and 5 s (inbox)


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A redis-server of this test's own: killing it leaves the shared one alone."""
    with ThrowawayRedis() as server:
        yield server


@pytest.fixture
def two_instances(postgres_url: str, throwaway_redis: ThrowawayRedis, tmp_path: Path,
                  artifacts: Path) -> Iterator[tuple[AppServer, AppServer, SupportDesk]]:
    """Two Streamlit servers on one PostgreSQL database (a fresh seeded copy) and one Redis."""
    desk = SupportDesk.open(saver="postgres", postgres_url=postgres_url, model="offline")
    # Locks stay in PostgreSQL (no SUPPORT_REDIS_URL): with Redis gone, turns still run.
    settings = {"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": postgres_url,
                "SUPPORT_SEED_DEMO": "true", "SUPPORT_AUTH": "local",
                "SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB": "true",
                "SUPPORT_LIVE_REDIS_URL": throwaway_redis.url,
                "SUPPORT_REDIS_KEY_PREFIX": "live-e2e:"}
    servers = []
    try:
        for number in (1, 2):
            workdir = tmp_path / f"instance-{number}"
            workdir.mkdir()
            servers.append(AppServer(settings, workdir))
            servers[-1].start()
        yield servers[0], servers[1], desk
    finally:
        for number, server in enumerate(servers, start=1):
            server.stop()
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log_path, artifacts / f"streamlit-live-{number}.log")
        desk.close()


def errors_shown(page: Page) -> int:
    """How many error boxes the page shows (a Redis outage must add none)."""
    return page.get_by_test_id("stAlertContentError").count()


def inbox_card(page: Page, thread_id: str):
    """Sam's inbox card for a thread's request (the block with its caption and Approve)."""
    return (main(page).get_by_test_id("stVerticalBlock").filter(has_text=f"({thread_id})")
            .filter(has=page.get_by_role("button", name="Approve", exact=True)).last)


def start_new_conversation(page: Page) -> None:
    """Click "New conversation" and wait until the page shows it (a message typed before the
    rerun lands would go to the open thread)."""
    sidebar(page).get_by_role("button", name="New conversation").click()
    expect(main(page).get_by_role("heading", name="New conversation")).to_be_visible()


def request_and_approve(alice: Page, sam: Page, desk: SupportDesk, request: str, outcome: str,
                        deadline_ms: int) -> str:
    """Alice asks; the request appears on Sam's open page; he approves; Alice sees the outcome.

    Neither page is reloaded (a marker set in each document must survive).
    """
    send(alice, request)
    expect(main(alice).get_by_text(WAITING)).to_be_visible()
    [thread] = [t.thread_id for t in desk.list_threads("alice", limit=200).threads
                if t.title == request and t.status == "awaiting_approval"]
    card = inbox_card(sam, thread)
    expect(card).to_be_visible(timeout=deadline_ms)
    card.get_by_role("button", name="Approve", exact=True).click()
    expect(main(sam).get_by_text("Approved Alice Martin's")).to_be_visible()
    expect(assistant_bubbles(alice).filter(has_text=outcome).last).to_be_visible(
        timeout=deadline_ms)
    expect(main(alice).get_by_text(WAITING)).to_have_count(0)
    expect(alice.get_by_placeholder(ASK)).to_be_enabled()
    for page in (alice, sam):
        assert page.evaluate("window.__noReloadMarker") == "still here"
    return thread


def test_two_instances_update_each_other_live_and_by_polling_without_redis(
        two_instances, throwaway_redis: ThrowawayRedis, pages_on, artifacts: Path) -> None:
    """Customer on instance 1, supervisor on instance 2: live through Redis, then polling."""
    assert SAFETY_READ_SECONDS * 1000 > 2 * LIVE_MS  # else "live" could be a safety re-read
    first, second, desk = two_instances
    alice, sam = pages_on(first.url), pages_on(second.url)
    sign_in(alice, ALICE)
    sign_in(sam, SAM)
    expect(main(sam).get_by_text("Nothing is waiting for approval.")).to_be_visible()
    start_new_conversation(alice)
    for page in (alice, sam):
        page.evaluate("window.__noReloadMarker = 'still here'")

    request_and_approve(alice, sam, desk, REFUND_REQUEST, REFUNDED, LIVE_MS)
    snap_whole(sam, artifacts, "live-supervisor-approved")
    snap_whole(alice, artifacts, "live-customer-outcome")
    assert errors_shown(alice) == errors_shown(sam) == 0

    throwaway_redis.stop()  # killed: the pages must carry on by polling, and say nothing
    start_new_conversation(alice)
    request_and_approve(alice, sam, desk, CANCEL_REQUEST, CANCELLED, POLLED_MS)
    snap_whole(sam, artifacts, "live-supervisor-without-redis")
    snap_whole(alice, artifacts, "live-customer-without-redis")
    assert errors_shown(alice) == errors_shown(sam) == 0
    assert desk.ledger("sam") and {e["order_id"] for e in desk.ledger("sam")} == {
        "ORD-1001", "ORD-1003"}
