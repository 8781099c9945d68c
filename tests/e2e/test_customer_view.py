"""End-to-end: what a customer sees has no internals, and their feedback is kept.

A customer's page shows what the assistant does in words ("Checking order ORD-1002"), never a
tool's name, its JSON arguments or its raw result, at any moment of a turn (a watcher records
every state of the page while replies stream). A supervisor can switch the technical detail on.
Thumbs under replies and a star rating on closing are stored and shown again after a reload.
Runs on a server of this module's own, on a fresh shop: the refund asked for here must not have
been made by another test already. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from servers import AppServer, snap_whole
from test_browser import assistant_bubbles, main, send, sidebar, sign_in

from agent.domain.feedback import CONVERSATION
from agent.service import SupportDesk, collect
from agent.tools import registry

pytestmark = pytest.mark.browser

ALICE = "Alice Martin - customer, acme"
SAM = "Sam Rivera - supervisor, acme"
TRACKING_QUESTION = "Where is ORD-1002?"
TRACKING_NUMBER = "1Z999AA10123456791"
REFUND_REQUEST = "Please refund ORD-1001, the boots leak"
OUTCOME_MS = 15_000  # the waiting notice re-checks every 2 s; room for a slow machine
STORED_SECONDS = 15

# Records every distinct text of the page's main area while it changes: whatever a customer
# could have read at any moment, streaming included.
WATCH_MAIN = """() => {
    window.__mainStates = [];
    const main = () => document.querySelector('[data-testid="stMainBlockContainer"]');
    new MutationObserver(() => {
        const text = main() ? main().innerText : '';
        const seen = window.__mainStates;
        if (seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Shop:
    """This module's server on a fresh SQLite shop, and a desk on the same file."""

    server: AppServer
    desk: SupportDesk


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Shop]:
    """`streamlit run ui/app.py` on a new SQLite file (the demo shop, untouched)."""
    folder = tmp_path_factory.mktemp("customer-view")
    path = folder / "ui.db"
    # Created and seeded here first, so the server never races us to create it.
    desk = SupportDesk.open(saver="sqlite", sqlite_path=path, model="offline")
    server = AppServer({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(path)}, folder)
    try:
        server.start()
        yield Shop(server, desk)
    finally:
        server.stop()
        desk.close()
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, artifacts / "streamlit-customer-view.log")


@pytest.fixture
def shop_page(shop: Shop, pages_on: Callable[[str], Page]) -> Callable[[], Page]:
    """A factory of pages on this module's server, each in a fresh browser context."""
    return lambda: pages_on(shop.server.url)


def internals_in(text: str) -> list[str]:
    """Tool names, JSON and technical markers found in text a customer read."""
    found = [name for name in registry.names() if name in text]
    found += [mark for mark in ("{", "}", '":', "tool_call", "ToolMessage") if mark in text]
    return found


def new_conversation(page: Page) -> None:
    """Start a new conversation from the sidebar."""
    sidebar(page).get_by_role("button", name="New conversation").click()
    expect(main(page).get_by_role("heading", name="New conversation")).to_be_visible()


def reply_bubble(page: Page, text: str) -> Locator:
    """The (settled) assistant bubble holding text."""
    return assistant_bubbles(page).filter(has_text=text).last


def eventually(read: Callable[[], object], want: object, what: str) -> None:
    """Wait until read() == want (a click's effect lands in the database a moment later)."""
    deadline = time.monotonic() + STORED_SECONDS
    while (got := read()) != want:
        assert time.monotonic() < deadline, f"{what}: {got!r}, wanted {want!r}"
        time.sleep(0.3)


def test_customer_sees_words_never_internals(shop: Shop, shop_page: Callable[[], Page],
                                             artifacts: Path) -> None:
    """Progress in words, a waiting notice in words with the amount, the edited amount said;
    at no moment a tool name, JSON or a raw tool line. A supervisor may see the detail."""
    alice = shop_page()
    sign_in(alice, ALICE)
    new_conversation(alice)
    alice.evaluate(WATCH_MAIN)

    send(alice, TRACKING_QUESTION)
    bubble = reply_bubble(alice, TRACKING_NUMBER)
    expect(bubble).to_be_visible()
    expect(bubble).to_contain_text("Checking order ORD-1002")
    expect(main(alice).get_by_role("heading", name=TRACKING_QUESTION)).to_be_visible()

    new_conversation(alice)
    send(alice, REFUND_REQUEST)
    notice = main(alice).get_by_text("Waiting for a supervisor to approve")
    expect(notice).to_be_visible()
    waiting = [t for t in shop.desk.list_threads("alice", limit=200).threads
               if t.title == REFUND_REQUEST and t.status == "awaiting_approval"]
    thread_id = waiting[0].thread_id
    [pending] = shop.desk.view_thread("alice", thread_id).pending_approvals
    # Said in words with the amount ("a refund of $129.00 on ORD-1001"); until the request's
    # words are filled in, the notice falls back to the tool's label.
    assert pending.in_words == "a refund of $129.00 on ORD-1001", pending.in_words
    expect(notice).to_contain_text(f"Waiting for a supervisor to approve {pending.in_words}.")
    expect(alice.get_by_placeholder("Ask about your orders...")).to_be_disabled()
    snap_whole(alice, artifacts, "customer-view-waiting")

    # Sam halves it (and more) from elsewhere; Alice's open page says the amount was changed.
    collect(shop.desk.decide_approval("sam", thread_id,
                                     {"action": "edit", "arguments": {"amount": 20}}))
    changed = reply_bubble(alice, "A supervisor changed the amount")
    expect(changed).to_be_visible(timeout=OUTCOME_MS)
    expect(changed).to_contain_text("$20.00")
    expect(main(alice).get_by_text("Waiting for a supervisor")).to_have_count(0)
    snap_whole(alice, artifacts, "customer-view-partial-refund")

    states: list[str] = alice.evaluate("window.__mainStates")
    assert any("Checking order ORD-1002" in state for state in states)
    assert any(TRACKING_NUMBER in state for state in states)
    leaks = {leak for state in states for leak in internals_in(state)}
    assert not leaks, (leaks, [s for s in states if internals_in(s)][:3])
    assert not internals_in(main(alice).inner_text())
    assert not internals_in(sidebar(alice).inner_text())

    # A supervisor reading the same thread can switch the technical detail on.
    sam = shop_page()
    sign_in(sam, SAM)
    sam.goto(f"/conversations?as=sam&thread={thread_id}")
    expect(main(sam).get_by_role("heading", name=REFUND_REQUEST)).to_be_visible()
    expect(main(sam).get_by_text("A supervisor changed the amount").last).to_be_visible()
    assert "issue_refund" not in main(sam).inner_text()
    main(sam).get_by_text("Show technical detail").click()
    expect(main(sam).get_by_text("issue_refund(").first).to_be_visible()
    expect(main(sam).get_by_text('"order_id": "ORD-1001"').first).to_be_visible()
    expect(main(sam).get_by_text("issue_refund: ").first).to_be_visible()  # the result line
    snap_whole(sam, artifacts, "customer-view-supervisor-technical")


def test_thumbs_and_closing_rating_are_kept(shop: Shop, shop_page: Callable[[], Page],
                                            artifacts: Path) -> None:
    """Thumbs up on one reply and down on another are stored and still shown after a reload;
    closing with 4 stars and a comment stores the rating and closes the thread."""
    alice = shop_page()
    sign_in(alice, ALICE)
    new_conversation(alice)
    send(alice, TRACKING_QUESTION)
    expect(reply_bubble(alice, TRACKING_NUMBER)).to_be_visible()
    expect(main(alice).get_by_role("heading", name=TRACKING_QUESTION)).to_be_visible()
    send(alice, "Where is ORD-1003?")
    expect(reply_bubble(alice, "ORD-1003 (")).to_be_visible()
    expect(assistant_bubbles(alice)).to_have_count(2)
    thread_id = alice.url.split("thread=")[1].split("&")[0]
    replies = [m for m in shop.desk.view_thread("alice", thread_id).messages
               if m.role == "assistant" and m.text]
    first, second = replies

    def thumb(text: str, name: str) -> Locator:
        return reply_bubble(alice, text).get_by_role("radio", name=name)

    thumb(TRACKING_NUMBER, "Thumbs up").click()
    eventually(lambda: shop.desk.my_ratings("alice", thread_id), {first.id: 1}, "after one thumb")
    thumb("ORD-1003 (", "Thumbs down").click()
    eventually(lambda: shop.desk.my_ratings("alice", thread_id), {first.id: 1, second.id: -1},
               "after two thumbs")
    seen = {(f.thread_id, f.kind, f.score, f.message_excerpt[:8])
            for f in shop.desk.feedback("sam") if f.thread_id == thread_id}
    assert seen == {(thread_id, "reply", 1, first.text[:8]),
                    (thread_id, "reply", -1, second.text[:8])}

    alice.reload()
    expect(thumb(TRACKING_NUMBER, "Thumbs up")).to_have_attribute("aria-checked", "true")
    expect(thumb(TRACKING_NUMBER, "Thumbs down")).to_have_attribute("aria-checked", "false")
    expect(thumb("ORD-1003 (", "Thumbs down")).to_have_attribute("aria-checked", "true")
    expect(thumb("ORD-1003 (", "Thumbs up")).to_have_attribute("aria-checked", "false")
    snap_whole(alice, artifacts, "customer-feedback-thumbs")

    main(alice).get_by_role("button", name="Close", exact=True).click()
    dialog = alice.get_by_role("dialog", name="Close this conversation")
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name="4 out of 5 stars").click()
    dialog.get_by_label("Anything you want to tell us? (optional)").fill("Quick and clear")
    snap_whole(alice, artifacts, "customer-feedback-close-dialog")
    dialog.get_by_role("button", name="Close conversation").click()
    expect(dialog).to_have_count(0)
    expect(main(alice).get_by_text("closed", exact=True)).to_be_visible()
    expect(main(alice).get_by_text("You rated this conversation ★★★★☆")).to_be_visible()
    snap_whole(alice, artifacts, "customer-feedback-closed")

    assert shop.desk.view_thread("alice", thread_id).thread.status == "closed"
    assert shop.desk.my_ratings("alice", thread_id) == {first.id: 1, second.id: -1, CONVERSATION: 4}
    rated = [(f.score, f.comment) for f in shop.desk.feedback("sam", kind="conversation")
             if f.thread_id == thread_id]
    assert rated == [(4, "Quick and clear")]
