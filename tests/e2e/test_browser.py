"""End-to-end: the real Streamlit app in headless Chromium, as customers and a supervisor use it.

The refund story spans several tests: module-scoped fixtures build it step by step (Alice asks
for a refund, Sam approves it, Alice forks the conversation in History) on one browser page
per person, and each test checks one step. Every fixture builds on the previous one, so any
test also runs on its own. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

pytestmark = pytest.mark.browser

ALICE = "Alice Martin - customer, acme"
BOB = "Bob Chen - customer, acme"
CAROL = "Carol Diaz - customer, acme"
SAM = "Sam Rivera - supervisor, acme"

ASK = "Ask about your orders..."
TRACKING_QUESTION = "Where is ORD-1002?"
TRACKING_NUMBER = "1Z999AA10123456791"
REFUND_REQUEST = "Please refund ORD-1001, the boots leak"
REFUNDED = "Refunded $129.00"
WAITING = "Waiting for a supervisor to approve"
FORKED_QUESTION = "Where is ORD-1003?"
ROW_HEIGHT = 35  # the timeline's row (and header) height: ui/components/history.py
OUTCOME_SECONDS = 15  # the waiting notice re-checks every 2 s; leave room for a slow machine

# Records the text of the newest assistant bubble at every DOM change, so a test can tell what
# the bubble showed before the reply was complete.
WATCH_ASSISTANT = """() => {
    window.__assistantStates = [];
    new MutationObserver(() => {
        const bubbles = document.querySelectorAll('[aria-label="Chat message from assistant"]');
        if (!bubbles.length) return;
        const text = bubbles[bubbles.length - 1].innerText;
        const seen = window.__assistantStates;
        if (seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


# --- helpers ----------------------------------------------------------------------------------

def snap(page: Page, artifacts: Path, name: str) -> None:
    """Save a full-page screenshot as test-artifacts/e2e/<name>.png."""
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


def main(page: Page) -> Locator:
    """The page's main area (not the sidebar)."""
    return page.get_by_test_id("stMainBlockContainer")


def sidebar(page: Page) -> Locator:
    """The sidebar: navigation, the signed-in user, the thread list."""
    return page.get_by_test_id("stSidebar")


def choose_user(page: Page, label: str) -> None:
    """Open the app and pick a seeded user in the local sign-in form (not yet submitted)."""
    page.goto("/")
    picker = page.get_by_role("combobox", name="Sign in as")
    picker.click()
    page.get_by_role("option", name=label).click()
    expect(picker).to_have_value(label)


def sign_in(page: Page, label: str) -> None:
    """Sign in as a seeded user and wait until the app shows who is signed in."""
    choose_user(page, label)
    page.get_by_role("button", name="Sign in").click()
    expect(sidebar(page).get_by_role("button", name="Sign out")).to_be_visible()
    expect(sidebar(page)).to_contain_text(label.split(" - ")[0])


def send(page: Page, text: str) -> None:
    """Type a message into the chat input and press Enter."""
    box = page.get_by_placeholder(ASK)
    box.fill(text)
    box.press("Enter")


def assistant_bubbles(page: Page) -> Locator:
    """The assistant's chat bubbles."""
    return page.get_by_role("group", name="Chat message from assistant")


def timeline(page: Page) -> Locator:
    """The History page's checkpoint table (a canvas grid)."""
    return page.get_by_test_id("stDataFrame")


def timeline_rows(page: Page) -> list[dict[str, str]]:
    """The table's rows as {column: text}, plus "selected".

    The grid draws on a canvas; its cells are also in an offscreen accessible table.
    """
    table = timeline(page).locator("table[role=grid]")
    headers = table.locator("thead th").all_text_contents()
    rows = []
    for row in table.locator("tbody tr").all():
        cells = dict(zip(headers, row.locator("td").all_text_contents(), strict=True))
        cells["selected"] = row.get_attribute("aria-selected") or "false"
        rows.append(cells)
    return rows


def select_timeline_row(page: Page, index: int) -> None:
    """Tick the selection checkbox of one timeline row (0 = the first row under the header)."""
    canvas = timeline(page).get_by_test_id("data-grid-canvas")
    # The grid's scroller overlays its canvas and takes the pointer events, hence force: the
    # click lands at these coordinates all the same, in the checkbox column at the left.
    canvas.click(position={"x": 15, "y": ROW_HEIGHT * (index + 1) + ROW_HEIGHT // 2},
                 force=True)


# --- the refund story, one browser page per person --------------------------------------------

@dataclass
class Refund:
    """Alice's refund request, waiting for a supervisor."""

    thread_id: str


@dataclass
class Approval:
    """Sam's approval of the refund, as his page showed it."""

    supervisor: Page
    card_text: str
    notice_text: str


@dataclass
class Fork:
    """Alice's fork of the refund thread in History."""

    rows_before: list[dict[str, str]]
    fork_point: dict[str, str]  # its row as Alice sees it (When, Your message, What happened)
    fork_point_id: str  # a customer's table shows no ids: the checkpoint, from the desk
    rows_after: list[dict[str, str]]
    notice_text: str


@pytest.fixture(scope="module")
def alice(make_context: Callable[[], BrowserContext]) -> Iterator[Page]:
    """Alice's page, signed in, kept open for the whole refund story."""
    context = make_context()
    page = context.new_page()
    sign_in(page, ALICE)
    yield page
    context.close()


@pytest.fixture(scope="module")
def refund(alice: Page, app) -> Refund:
    """Alice asks for a refund in a new conversation; the agent waits for a supervisor."""
    sidebar(alice).get_by_role("button", name="New conversation").click()
    send(alice, REFUND_REQUEST)
    expect(main(alice).get_by_text(WAITING)).to_be_visible()
    waiting = [t for t in app.desk.list_threads("alice", limit=200).threads
               if t.title == REFUND_REQUEST and t.status == "awaiting_approval"]
    assert len(waiting) == 1, waiting
    # A full page load would clear this; test 4 checks it survived until the outcome showed.
    alice.evaluate("window.__noReloadMarker = 'still here'")
    return Refund(waiting[0].thread_id)


@pytest.fixture(scope="module")
def approval(refund: Refund, alice: Page, make_context: Callable[[], BrowserContext],
             artifacts: Path) -> Iterator[Approval]:
    """Sam, in a second browser context, finds the request in his inbox and approves it."""
    context = make_context()
    page = context.new_page()
    sign_in(page, SAM)
    expect(main(page).get_by_role("heading", name="Approvals")).to_be_visible()
    caption = main(page).get_by_text(f"({refund.thread_id})")
    expect(caption).to_be_visible()
    # The card: the innermost block holding both this thread's caption and an Approve button.
    card = (main(page).get_by_test_id("stVerticalBlock").filter(has_text=f"({refund.thread_id})")
            .filter(has=page.get_by_role("button", name="Approve", exact=True)).last)
    card_text = card.inner_text()
    snap(page, artifacts, "approval-approvals")

    # Until Sam decides, Alice's page can only show that it waits.
    expect(main(alice).get_by_text(WAITING)).to_be_visible()
    expect(assistant_bubbles(alice).filter(has_text=REFUNDED)).to_have_count(0)

    card.get_by_role("button", name="Approve", exact=True).click()
    # The notice lasts until the inbox's next refresh (5 s): read it now.
    notice = main(page).get_by_text("Approved Alice Martin's refund")
    expect(notice).to_be_visible()
    notice_text = notice.inner_text()
    snap(page, artifacts, "approval-approved")
    yield Approval(page, card_text, notice_text)
    context.close()


@pytest.fixture(scope="module")
def fork(approval: Approval, refund: Refund, alice: Page, artifacts: Path, app) -> Fork:
    """Alice opens History on the settled refund thread and forks it with another question."""
    sidebar(alice).get_by_role("link", name="History").click()
    expect(main(alice).get_by_role("heading", name="History")).to_be_visible()
    # The page opens on the conversation she had open in Chat.
    expect(main(alice).get_by_role("combobox", name="Conversation"))\
        .to_have_value(re.compile(rf"^{re.escape(REFUND_REQUEST)} \("))
    expect(timeline(alice).locator("table[role=grid] tbody tr").first).to_be_attached()
    rows_before = timeline_rows(alice)
    snap(alice, artifacts, "fork-history")

    wrote = f"You wrote: “{REFUND_REQUEST}”"
    index, fork_point = next((i, row) for i, row in enumerate(rows_before)
                             if row["What happened"] == wrote)
    [start] = [i for i in app.desk.history("alice", refund.thread_id, limit=200)
               if i.written_by == ("__start__",)]
    select_timeline_row(alice, index)
    editor = main(alice).get_by_label("Edit the customer message")
    expect(editor).to_have_value(REFUND_REQUEST)
    snap(alice, artifacts, "fork-selected")

    editor.fill(FORKED_QUESTION)
    main(alice).get_by_role("button", name="Fork with this message").click()
    notice = main(alice).get_by_text("New branch written")
    expect(notice).to_be_visible()
    other_branch = timeline(alice).locator("td").filter(
        has_text=re.compile(r"^earlier version$"))
    expect(other_branch).not_to_have_count(0)
    snap(alice, artifacts, "fork-fork")
    return Fork(rows_before, fork_point, start.checkpoint_id, timeline_rows(alice),
                notice.inner_text())


# --- tests ------------------------------------------------------------------------------------

def test_customer_signs_in_and_sees_the_reply_stream_in(
        new_page: Callable[[], Page], artifacts: Path) -> None:
    """A customer signs in, asks where an order is, and watches the reply being written."""
    page = new_page()
    choose_user(page, ALICE)
    expect(main(page).get_by_text("Local mode.")).to_be_visible()
    snap(page, artifacts, "test_customer_reply-sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(main(page).get_by_role("heading", name="New conversation")).to_be_visible()
    expect(sidebar(page)).to_contain_text("Local sign-in mode")
    snap(page, artifacts, "test_customer_reply-chat")

    page.evaluate(WATCH_ASSISTANT)
    send(page, TRACKING_QUESTION)
    # .last: for a moment both the streamed bubble and the redrawn thread may hold the reply.
    expect(assistant_bubbles(page).filter(has_text=TRACKING_NUMBER).last).to_be_visible()
    # The turn is then filed as a thread: its title heads the page and the sidebar lists it.
    expect(main(page).get_by_role("heading", name=TRACKING_QUESTION)).to_be_visible()
    expect(sidebar(page).get_by_role("button", name=re.compile(re.escape(TRACKING_QUESTION))))\
        .to_be_visible()
    # The live bubble and the redrawn thread can both hold the question for a moment; once the
    # page settles there is exactly one, with the question in it.
    customer_bubbles = main(page).get_by_role("group", name="Chat message from user")
    expect(customer_bubbles).to_have_count(1)
    expect(customer_bubbles).to_have_text(TRACKING_QUESTION)
    snap(page, artifacts, "test_customer_reply-reply")

    # The offline model emits its words within one Streamlit flush, so the words often reach
    # the browser together; but the bubble must have been drawn and updated (status, tool use)
    # while the turn ran, before the finished reply replaced it.
    states: list[str] = page.evaluate("window.__assistantStates")
    first_full = next(i for i, text in enumerate(states) if TRACKING_NUMBER in text)
    before = states[:first_full]
    assert any("Working on it" in s or "Using get_order_status" in s for s in before), states


def test_refund_waits_for_a_supervisor(refund: Refund, alice: Page, app,
                                       artifacts: Path) -> None:
    """Asking for a refund shows the waiting notice, and the chat input is disabled meanwhile."""
    notice = main(alice).get_by_text(WAITING)
    expect(notice).to_be_visible()
    # The action in plain words with its amount, never the tool's name.
    expect(notice).to_contain_text("a refund of $129.00 on ORD-1001")
    expect(notice).not_to_contain_text("issue_refund")
    expect(alice.get_by_placeholder(ASK)).to_be_disabled()
    expect(main(alice).get_by_text("awaiting approval", exact=True)).to_be_visible()
    snap(alice, artifacts, "test_refund_waits-waiting")
    assert [p.action for p in app.desk.view_thread("alice", refund.thread_id).pending_approvals] \
        == ["issue_refund"]
    # Nothing is refunded before a supervisor decides.
    assert [e for e in app.desk.ledger("alice") if e["thread_id"] == refund.thread_id] == []


def test_supervisor_approves_from_the_inbox(approval: Approval, refund: Refund, app) -> None:
    """The supervisor saw the request in the inbox, approved it, and got the success notice."""
    assert "Refund for Alice Martin" in approval.card_text
    assert "ORD-1001" in approval.card_text
    assert f"Customer: {REFUND_REQUEST}" in approval.card_text
    assert approval.notice_text.startswith("Approved Alice Martin's refund: Refunded $129.00")
    assert REFUNDED in approval.notice_text
    # The inbox refreshes to empty, and the refund is in the books exactly once.
    expect(main(approval.supervisor).get_by_text("Nothing is waiting for approval."))\
        .to_be_visible()
    refunds = [e for e in app.desk.ledger("sam") if e["thread_id"] == refund.thread_id]
    assert [(e["kind"], e["order_id"], e["amount_cents"]) for e in refunds] \
        == [("refund", "ORD-1001", 12900)]


def test_customer_sees_the_outcome_without_reloading(approval: Approval, alice: Page,
                                                     artifacts: Path) -> None:
    """The waiting notice refreshes itself: the outcome appears on the customer's open page."""
    reply = assistant_bubbles(alice).filter(has_text=REFUNDED).last
    expect(reply).to_be_visible(timeout=OUTCOME_SECONDS * 1000)
    expect(main(alice).get_by_text(WAITING)).to_have_count(0)
    expect(alice.get_by_placeholder(ASK)).to_be_enabled()
    expect(main(alice).get_by_text("active", exact=True)).to_be_visible()
    # Same document all along: the page was updated in place, never reloaded.
    assert alice.evaluate("window.__noReloadMarker") == "still here"
    snap(alice, artifacts, "test_customer_outcome-outcome")


def test_history_shows_checkpoints_and_forks_a_branch(fork: Fork, refund: Refund, alice: Page,
                                                      app) -> None:
    """History lists the thread's checkpoints; forking an edited message starts a new branch."""
    # Alice reads the steps in words: her message, the wait, the supervisor, the refund.
    assert list(fork.rows_before[0]) == ["When", "Your message", "What happened", "selected"]
    happened = [row["What happened"] for row in fork.rows_before]
    assert f"You wrote: “{REFUND_REQUEST}”" in happened
    assert any(h.startswith("Waited for a supervisor to approve a refund") for h in happened)
    assert any(h.startswith("A supervisor approved the refund") for h in happened)
    assert any(h.startswith("The assistant carried out the refund") for h in happened)
    assert {row["Your message"] for row in fork.rows_before} == {REFUND_REQUEST}
    expect(main(alice).get_by_role("button", name="Download history (JSON)")).to_be_visible()

    # The fork point now has two children: the original continuation and the new branch.
    infos = app.desk.history("alice", refund.thread_id, limit=200)
    assert {"__start__", "agent", "actions", "approval"} <= {w for i in infos
                                                             for w in i.written_by}
    children = Counter(info.parent_id for info in infos)
    assert children[fork.fork_point_id] == 2
    assert [cid for cid, count in children.items() if count > 1] == [fork.fork_point_id]

    # The page marks the old continuation as an earlier version and says what the fork answered.
    versions = {row["What happened"]: row["Version"] for row in fork.rows_after}
    assert versions[fork.fork_point["What happened"]] == "current · forked here"
    assert versions["The assistant carried out the refund on ORD-1001"] == "earlier version"
    assert "ORD-1003" in fork.notice_text
    # The thread itself now continues on the new branch.
    messages = app.desk.view_thread("alice", refund.thread_id).messages
    assert [m.text for m in messages if m.role == "customer"] == [FORKED_QUESTION]
    assert "ORD-1003" in messages[-1].text


def test_history_selection_stays_on_the_picked_checkpoint_after_a_fork(
        fork: Fork, alice: Page) -> None:
    """After a fork the page shows the checkpoint that was picked, or none: never another."""
    selected = [row for row in timeline_rows(alice) if row["selected"] == "true"]
    picked = (fork.fork_point["When"], fork.fork_point["What happened"])
    assert [(row["When"], row["What happened"]) for row in selected] in ([], [picked])
    if selected:
        expect(main(alice).get_by_text(f"{picked[0]} · {picked[1]}")).to_be_visible()
    else:
        expect(main(alice).get_by_text("Select a step to see the conversation")).to_be_visible()


def test_other_customer_sees_none_of_alices_threads(new_page: Callable[[], Page], app,
                                                    artifacts: Path) -> None:
    """Bob, in the same tenant, sees neither Alice's threads nor their history."""
    # Make sure Alice owns at least one thread, whichever tests ran before.
    app.desk.create_thread("alice", "Alice only: a question about the tent")
    alice_titles = {t.title for t in app.desk.list_threads("alice", limit=200).threads}

    page = new_page()
    sign_in(page, BOB)
    expect(sidebar(page)).to_contain_text("No conversations yet.")
    sidebar_text = sidebar(page).inner_text()
    assert not [title for title in alice_titles if title in sidebar_text], sidebar_text
    snap(page, artifacts, "test_other_customer-bob")

    sidebar(page).get_by_role("link", name="History").click()
    expect(main(page).get_by_text("No conversations yet: start one on the Chat page."))\
        .to_be_visible()
    assert not [title for title in alice_titles if title in main(page).inner_text()]
    snap(page, artifacts, "test_other_customer-bob-history")


def test_empty_message_is_not_sent_and_sign_out_works(new_page: Callable[[], Page], app,
                                                      artifacts: Path) -> None:
    """An empty message cannot be sent, a blank one is refused in place; signing out works."""
    page = new_page()
    sent: list[object] = []  # every message the page sends to the server
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    # Other tests on this server may have given Carol threads: none may be added here.
    threads_before = app.desk.list_threads("carol").total
    sign_in(page, CAROL)
    box = page.get_by_placeholder(ASK)
    expect(page.get_by_test_id("stChatInputSubmitButton")).to_be_disabled()

    before = len(sent)
    box.press("Enter")
    # Proving that nothing happens needs a pause: a submitted message would be sent at once.
    page.wait_for_timeout(1000)
    assert len(sent) == before, "pressing Enter in the empty chat input sent a message"
    expect(main(page).get_by_test_id("stChatMessage")).to_have_count(0)

    # Blanks get past the input, so the desk refuses them, and the page says so in place.
    send(page, "   ")
    expect(main(page).get_by_text("the message is empty")).to_be_visible()
    expect(box).to_be_enabled()
    assert app.desk.list_threads("carol").total == threads_before
    snap(page, artifacts, "test_empty_message-error")

    sidebar(page).get_by_role("button", name="Sign out").click()
    expect(main(page).get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(sidebar(page)).not_to_contain_text("Carol Diaz")
    expect(page.get_by_placeholder(ASK)).to_have_count(0)
    snap(page, artifacts, "test_empty_message-signed-out")
