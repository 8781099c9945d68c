"""End-to-end: a customer asks for a person, a supervisor answers in their own name, live.

The round trip (customer asks -> supervisor answers -> the customer sees it without reloading ->
handed back -> the assistant carries on) runs on SQLite and on PostgreSQL, each on a server of
its own that is stopped and started again in the middle: the open pages are reloaded and carry
on. A second test has two customers and two supervisors in four browser contexts at once, on
the session's shared server. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from servers import AppServer, snap_whole
from test_browser import assistant_bubbles, main, send, sidebar, sign_in

from agent.core.handoff import HAND_BACK_NOTE
from agent.service import SupportDesk
from agent.tools.handoff import HANDED_OFF

pytestmark = pytest.mark.browser

ALICE = "Alice Martin - customer, acme"
BOB = "Bob Chen - customer, acme"
SAM = "Sam Rivera - supervisor, acme"
LIVE_MS = 15_000  # the open pages re-check every 2 s: room for a slow machine, no reload
PERSON_REQUEST = "I'd like to talk to a person, please."
PERSON_ASKED = "A member of our support team has been asked to join"
TRACKING_QUESTION = "Where is ORD-1002?"
TRACKING_NUMBER = "1Z999AA10123456791"


# --- helpers ----------------------------------------------------------------------------------

def staff_bubbles(page: Page) -> Locator:
    """The bubbles of messages a person from the support team wrote."""
    return main(page).get_by_role("group", name="Chat message from staff")


def customer_bubbles(page: Page) -> Locator:
    """The customer's own bubbles."""
    return main(page).get_by_role("group", name="Chat message from user")


def open_conversations(page: Page) -> None:
    """Go to the supervisors' Conversations page."""
    sidebar(page).get_by_role("link", name="Conversations").click()
    expect(main(page).get_by_role("heading", name="Conversations")).to_be_visible()


def conversation_picker(page: Page) -> Locator:
    """The Conversations page's choice of thread."""
    return main(page).get_by_role("combobox", name="Conversation")


def open_conversation_list(page: Page) -> Locator:
    """Open the Conversations page's list of threads; return its options."""
    picker = conversation_picker(page)
    options = page.get_by_role("option")
    # A rerun that lands just as the list opens (the page's own, right after navigating to
    # it) closes the list again: open it once more then, as a person would.
    for _ in range(5):
        expect(main(page).get_by_text("Show technical detail")).to_be_visible()
        picker.click()
        try:
            expect(options.first).to_be_visible(timeout=3_000)
            return options
        except AssertionError:
            continue
    raise AssertionError("the list of conversations did not open")


def listed_conversations(page: Page) -> list[str]:
    """The labels the Conversations page offers, in order (the list is closed again after)."""
    for _ in range(5):  # read again if a rerun closed the list in between
        labels = open_conversation_list(page).all_inner_texts()
        if labels:
            break
    else:
        raise AssertionError("the list of conversations closed each time before it was read")
    conversation_picker(page).press("Escape")
    expect(page.get_by_role("option")).to_have_count(0)
    return labels


def pick_conversation(page: Page, label: str | re.Pattern[str]) -> None:
    """Open the thread whose label matches on the Conversations page."""
    for _ in range(5):
        open_conversation_list(page)
        try:  # the list may close under the click, as above: pick again then
            page.get_by_role("option", name=label).click(timeout=3_000)
            break
        except PlaywrightTimeout:
            continue
    expect(conversation_picker(page)).to_have_value(label)


def handoff_queue(page: Page) -> Locator:
    """The Conversations page's queue of threads asking for a person."""
    return main(page).get_by_test_id("stExpander").filter(has_text="Asking for a person")


def queue_card(page: Page, *texts: str) -> Locator:
    """The queue's card holding all these texts."""
    card = handoff_queue(page).get_by_test_id("stVerticalBlock")
    for text in texts:
        card = card.filter(has_text=text)
    return card.filter(has=page.get_by_role("button", name="Open conversation")).last


def write_as_staff(page: Page, name: str, text: str) -> None:
    """Type a message to the customer in the supervisor's chat input and send it."""
    box = page.get_by_placeholder(f"Write to the customer as {name}...")
    box.fill(text)
    box.press("Enter")


def ask_for_person(page: Page, words: str | None = None) -> None:
    """A customer starts a new conversation asking for a person (in `words`, or with the
    "Talk to a person" button) and sees that one was asked for."""
    sidebar(page).get_by_role("button", name="New conversation").click()
    if words:
        send(page, words)
    else:
        main(page).get_by_role("button", name="Talk to a person").click()
    expect(assistant_bubbles(page).filter(has_text=HANDED_OFF).last).to_be_visible()
    expect(main(page).get_by_text(PERSON_ASKED)).to_be_visible()


def open_thread_id(page: Page) -> str:
    """The thread the page has open, from its address (once the address names one)."""
    expect(page).to_have_url(re.compile(r"[?&]thread=[\w-]+"))
    return re.search(r"[?&]thread=([\w-]+)", page.url).group(1)


def expect_open_thread(page: Page, thread_id: str) -> None:
    """The page's address names this thread (it is updated just after the page is drawn)."""
    expect(page).to_have_url(re.compile(rf"[?&]thread={re.escape(thread_id)}(&|$)"))


# --- a server of the test's own -----------------------------------------------------------------

@dataclass
class OwnApp:
    """A server of this test's own, and a desk on its database to set up and check with."""

    server: AppServer
    desk: SupportDesk
    saver: str


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def own_app(request: pytest.FixtureRequest, tmp_path: Path, artifacts: Path) -> Iterator[OwnApp]:
    """`streamlit run ui/app.py` on a fresh database of the parametrised saver kind."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    if request.param == "sqlite":
        path = tmp_path / "ui.db"
        # Created, migrated and seeded here first: the server never races us to create it.
        desk = SupportDesk.open(saver="sqlite", sqlite_path=path, model="offline")
        settings = {"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(path)}
    else:
        url = request.getfixturevalue("postgres_url")  # a fresh copy of the seeded template
        desk = SupportDesk.open(saver="postgres", postgres_url=url, model="offline")
        # Local sign-in on PostgreSQL is refused unless allowed (the test picks users).
        settings = {"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": url,
                    "SUPPORT_SEED_DEMO": "true", "SUPPORT_AUTH": "local",
                    "SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB": "true"}
    server = AppServer(settings, workdir)
    try:
        server.start()
        yield OwnApp(server, desk, request.param)
    finally:
        server.stop()
        desk.close()
        # The server's log next to the screenshots: the first place to look after a failure.
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, artifacts / f"streamlit-handoff-{request.param}.log")


# --- tests ------------------------------------------------------------------------------------

def test_handoff_round_trip_survives_a_restart(own_app: OwnApp, pages_on, artifacts: Path) -> None:
    """Ask for a person, talk to Sam live, restart the app, get handed back, the agent answers."""
    server, desk = own_app.server, own_app.desk
    alice = pages_on(server.url)
    sign_in(alice, ALICE)
    ask_for_person(alice)
    thread_id = open_thread_id(alice)
    assert desk.view_thread("alice", thread_id).thread.status == "handoff"
    expect(main(alice).get_by_role("button", name="Talk to a person")).to_have_count(0)
    snap_whole(alice, artifacts, f"handoff-{own_app.saver}-customer-waiting")

    # Sam finds her thread at the top of his Conversations page, waiting for a person.
    sam = pages_on(server.url)
    sign_in(sam, SAM)
    open_conversations(sam)
    expect(handoff_queue(sam)).to_contain_text("Asking for a person: 1 waiting, 0 with the team")
    expect(queue_card(sam, "Alice Martin", PERSON_REQUEST))\
        .to_contain_text("waiting for a person · asked just now")
    assert listed_conversations(sam) == [f"Alice Martin: {PERSON_REQUEST}"]
    expect(conversation_picker(sam)).to_have_value(f"Alice Martin: {PERSON_REQUEST}")
    expect(main(sam).get_by_text("waiting for a person", exact=True)).to_be_visible()
    expect(main(sam).get_by_text("nobody has answered yet")).to_be_visible()
    snap_whole(sam, artifacts, f"handoff-{own_app.saver}-supervisor-queue")

    # Sam writes; Alice's open page shows it, marked as his, without a reload.
    alice.evaluate("window.__noReloadMarker = 'still here'")
    write_as_staff(sam, "Sam Rivera", "Hi Alice, Sam here")
    expect(staff_bubbles(sam).filter(has_text="Hi Alice, Sam here")).to_be_visible()
    from_sam = staff_bubbles(alice).filter(has_text="Hi Alice, Sam here")
    expect(from_sam).to_be_visible(timeout=LIVE_MS)
    expect(from_sam).to_contain_text("Sam Rivera")
    expect(from_sam).to_contain_text("support team")
    expect(main(alice).get_by_text("Sam Rivera from our support team is handling")).to_be_visible()
    assert alice.evaluate("window.__noReloadMarker") == "still here"
    snap_whole(alice, artifacts, f"handoff-{own_app.saver}-customer-with-sam")

    # Alice answers; Sam's open page shows it by itself; the assistant stays quiet.
    replies_before = assistant_bubbles(alice).count()
    send(alice, "Thanks Sam, the jacket has not arrived yet")
    expect(customer_bubbles(sam).filter(has_text="the jacket has not arrived yet"))\
        .to_be_visible(timeout=LIVE_MS)
    expect(customer_bubbles(alice).filter(has_text="the jacket has not arrived yet"))\
        .to_have_count(1)
    expect(assistant_bubbles(alice)).to_have_count(replies_before)
    snap_whole(sam, artifacts, f"handoff-{own_app.saver}-supervisor-conversation")

    # The app restarts in the middle; both reloaded pages carry on where they were.
    server.restart()
    alice.reload()
    sam.reload()
    expect(main(alice).get_by_role("heading", name=PERSON_REQUEST))\
        .to_be_visible()
    expect(staff_bubbles(alice).filter(has_text="Hi Alice, Sam here")).to_be_visible()
    expect(main(sam).get_by_role("heading", name="Conversations")).to_be_visible()
    expect(conversation_picker(sam)).to_have_value(f"Alice Martin: {PERSON_REQUEST}")
    expect(main(sam).get_by_text("Handled by Sam Rivera")).to_be_visible()
    # Nobody waits now, so the queue is folded: it says who has the thread when unfolded.
    queue = handoff_queue(sam)
    expect(queue).to_contain_text("Asking for a person: 0 waiting, 1 with the team")
    queue.get_by_text("Asking for a person").click()
    expect(queue_card(sam, "Alice Martin")).to_contain_text("with Sam Rivera")
    expect(customer_bubbles(sam).filter(has_text="the jacket has not arrived yet"))\
        .to_be_visible()

    alice.evaluate("window.__noReloadMarker = 'after the restart'")
    write_as_staff(sam, "Sam Rivera", "It left our warehouse yesterday, Alice.")
    expect(staff_bubbles(alice).filter(has_text="It left our warehouse yesterday"))\
        .to_be_visible(timeout=LIVE_MS)
    main(sam).get_by_role("button", name="Hand back to the assistant").click()
    expect(main(sam).get_by_text("Handed back")).to_be_visible()
    expect(main(sam).get_by_role("button", name="Hand back to the assistant")).to_have_count(0)

    # Alice sees the hand-back note live; the assistant answers her next question again.
    note = staff_bubbles(alice).filter(has_text=HAND_BACK_NOTE)
    expect(note).to_be_visible(timeout=LIVE_MS)
    expect(note).to_contain_text("Sam Rivera")
    expect(main(alice).get_by_text(PERSON_ASKED)).to_have_count(0)
    expect(main(alice).get_by_text("is handling this conversation")).to_have_count(0)
    assert alice.evaluate("window.__noReloadMarker") == "after the restart"
    send(alice, TRACKING_QUESTION)
    expect(assistant_bubbles(alice).filter(has_text=TRACKING_NUMBER).last).to_be_visible()
    snap_whole(alice, artifacts, f"handoff-{own_app.saver}-customer-handed-back")

    # Every person step is a checkpoint, and the audit trail names who did what.
    view = desk.view_thread("alice", thread_id)
    assert view.thread.status == "active" and view.handoff is None
    assert [(m.role, m.author) for m in view.messages if m.role in ("staff", "customer")] == [
        ("customer", None), ("staff", "Sam Rivera"), ("customer", None), ("staff", "Sam Rivera"),
        ("staff", "Sam Rivera"), ("customer", None)]
    person_steps = [info for info in desk.history("alice", thread_id, limit=500)
                    if "person" in info.written_by]
    # Sam's two messages, Alice's message to him, the hand-back.
    assert len(person_steps) == 4, person_steps
    trail = sorted((row for row in desk.audit_trail("sam") if row.thread_id == thread_id),
                   key=lambda row: row.created_at)
    assert [(row.action, row.actor_id) for row in trail] == [
        ("handoff", "alice"), ("reply", "sam"), ("reply", "sam"), ("hand_back", "sam")]
    assert server.starts == 2


def test_two_customers_and_two_supervisors_at_once(app, new_page: Callable[[], Page],
                                                   artifacts: Path) -> None:
    """Each customer sees only their own supervisor's replies; both supervisors see both
    handoffs, and one supervisor's reply shows on the other's open page live."""
    tess_id = f"tess{uuid.uuid4().hex[:6]}"
    tess = app.desk.add_user(tess_id, display_name="Tess Okafor", email=f"{tess_id}@example.com",
                             role="supervisor", tenant="acme")
    tess_label = "Tess Okafor - supervisor, acme"

    alice, bob, sam, other = new_page(), new_page(), new_page(), new_page()
    sign_in(alice, ALICE)
    sign_in(bob, BOB)
    sign_in(sam, SAM)
    sign_in(other, tess_label)
    # Words of their own make each thread's label unique on the shared server.
    marker = uuid.uuid4().hex[:6]
    ask_for_person(alice, f"Can I talk to a person please? ({marker})")
    ask_for_person(bob, f"I want to speak to a human ({marker})")
    alice_thread, bob_thread = open_thread_id(alice), open_thread_id(bob)
    alice_label = re.compile(rf"^Alice Martin: Can I talk to a person please\? \({marker}\)")
    bob_label = re.compile(rf"^Bob Chen: I want to speak to a human \({marker}\)")

    # Both supervisors see both handoffs waiting, and list them before other conversations.
    for supervisor in (sam, other):
        open_conversations(supervisor)
        for customer in ("Alice Martin", "Bob Chen"):
            expect(queue_card(supervisor, f"({marker})", customer))\
                .to_contain_text("waiting for a person")
        handoffs = len(app.desk.handoffs("sam"))
        listed = listed_conversations(supervisor)[:handoffs]
        assert [label for label in listed if alice_label.match(label)], listed
        assert [label for label in listed if bob_label.match(label)], listed
    snap_whole(sam, artifacts, "handoff-two-supervisors-queue")

    # Both open Alice's thread; Sam writes; Tess sees it on her open page by itself.
    for supervisor in (sam, other):
        pick_conversation(supervisor, alice_label)
        expect_open_thread(supervisor, alice_thread)
    write_as_staff(sam, "Sam Rivera", "Hello Alice, this is Sam")
    expect(staff_bubbles(other).filter(has_text="Hello Alice, this is Sam"))\
        .to_be_visible(timeout=LIVE_MS)
    expect(main(other).get_by_text("Handled by Sam Rivera")).to_be_visible(timeout=LIVE_MS)

    # Tess takes Bob's thread, from the queue: his card still waits, Alice's is Sam's now.
    expect(queue_card(other, f"({marker})", "Alice Martin")).to_contain_text("with Sam Rivera")
    bob_card = queue_card(other, f"({marker})", "Bob Chen")
    expect(bob_card).to_contain_text("waiting for a person")
    snap_whole(other, artifacts, "handoff-queue")
    bob_card.get_by_role("button", name="Open conversation").click()
    expect(conversation_picker(other)).to_have_value(bob_label)
    expect_open_thread(other, bob_thread)
    write_as_staff(other, "Tess Okafor", "Hello Bob, this is Tess")
    expect(staff_bubbles(other).filter(has_text="Hello Bob, this is Tess")).to_be_visible()

    # Each customer sees their own supervisor's message, live, and never the other's.
    expect(staff_bubbles(alice).filter(has_text="Hello Alice, this is Sam"))\
        .to_be_visible(timeout=LIVE_MS)
    expect(staff_bubbles(bob).filter(has_text="Hello Bob, this is Tess"))\
        .to_be_visible(timeout=LIVE_MS)
    expect(main(bob).get_by_text("Tess Okafor from our support team is handling"))\
        .to_be_visible()
    for page, foreign in ((alice, "Tess"), (bob, "Sam")):
        assert foreign not in main(page).inner_text()
        assert foreign not in sidebar(page).inner_text()
    snap_whole(bob, artifacts, "handoff-two-customers-bob")

    # The desk agrees: one person per thread, recorded by who wrote.
    assert [m.author for m in app.desk.view_thread("alice", alice_thread).messages
            if m.role == "staff"] == ["Sam Rivera"]
    assert [m.author for m in app.desk.view_thread("bob", bob_thread).messages
            if m.role == "staff"] == ["Tess Okafor"]
    queue = {item.thread_id: item for item in app.desk.handoffs(tess.user_id)}
    assert queue[alice_thread].person_id == "sam"
    assert queue[bob_thread].person_id == tess_id


def test_a_page_drawn_mid_turn_follows_the_thread_to_its_end(app, new_page: Callable[[], Page]
                                                             ) -> None:
    """A customer's page drawn while a turn runs elsewhere (here: a supervisor about to write)
    keeps following the thread: the person's reply and the "handling" note appear by
    themselves. (A page redrawn at that moment used to stop re-checking for good.)"""
    bob = new_page()
    sign_in(bob, BOB)
    ask_for_person(bob, f"I want to speak to a human ({uuid.uuid4().hex[:6]})")
    thread_id = open_thread_id(bob)
    turns = app.desk.turns
    with turns.locks.hold(thread_id, 5):  # as a turn in another process would
        app.desk.threads.set_status(thread_id, "running")
        bob.reload()
        expect(main(bob).get_by_text("Working on it…")).to_be_visible()
        expect(main(bob).get_by_text(PERSON_ASKED)).to_have_count(0)
    for _ in app.desk.reply_as_staff("sam", thread_id, "Hello Bob, Sam here"):
        pass
    expect(staff_bubbles(bob).filter(has_text="Hello Bob, Sam here")).to_be_visible(timeout=LIVE_MS)
    expect(main(bob).get_by_text("Sam Rivera from our support team is handling"))\
        .to_be_visible(timeout=LIVE_MS)
    expect(main(bob).get_by_text("Working on it…")).to_have_count(0)
