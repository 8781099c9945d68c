"""The supervisors' approval cards in a real browser: each form bound to its own request.

Every test makes its own requests, marked with a word no other test uses, because the server
(and its database) is shared by the whole session; at its end, what it left waiting is rejected
and its conversations are deleted. Amounts are kept small so the demo orders keep money for the
other tests; only the last test refunds the rest of ORD-1101, which no other browser test uses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from test_browser import WAITING, assistant_bubbles, main, send, sidebar, sign_in, snap

from agent.domain.shop import Customer
from agent.errors import InvalidInput
from agent.service import collect

pytestmark = pytest.mark.browser

SAM = "Sam Rivera - supervisor, acme"
TESS = "Tess Moreau - supervisor, acme"  # a second acme supervisor, added by the tests
ALICE = "Alice Martin - customer, acme"
BOB = "Bob Chen - customer, acme"
CAROL = "Carol Diaz - customer, acme"
TOO_LONG_REASON = "x" * 600  # the tools take at most 500 characters: the desk refuses it
REFRESH_SECONDS = 5  # ui/views/approvals.py
REFRESH_MS = 15_000  # time for the inbox to refresh by itself, with room for a slow machine


# --- helpers ----------------------------------------------------------------------------------

def marker() -> str:
    """A word only this request's card contains."""
    return f"case-{uuid.uuid4().hex[:8]}"


def card(page: Page, mark: str) -> Locator:
    """The card of the request marked `mark` (a container keyed "approval-<interrupt id>")."""
    # Not "any block with the mark": an outcome notice can quote the request's words too.
    return main(page).locator("[class*='st-key-approval-']").filter(has_text=mark)


def open_forms(page: Page) -> Locator:
    """Every form the supervisor can see right now, wherever it is drawn."""
    return page.get_by_test_id("stForm").filter(visible=True)


def form_text(form: Locator) -> str:
    """What a form shows: its text and the values in its fields."""
    values = form.locator("input, textarea").evaluate_all("fields => fields.map(f => f.value)")
    return "\n".join([form.inner_text(), *values])


def reason_field(form: Locator) -> Locator:
    """The edit form's reason field."""
    return form.get_by_role("textbox", name=re.compile(r"^reason$", re.IGNORECASE))


def amount_field(form: Locator) -> Locator:
    """The edit form's amount field."""
    return form.locator("input").and_(form.get_by_label(re.compile(r"^amount", re.IGNORECASE)))


def approve_at_once(pages: tuple[Page, ...], mark: str) -> None:
    """Click Approve on the card holding `mark` in every page, each click sent before any
    decision is back."""
    buttons = [card(page, mark).get_by_role("button", name="Approve", exact=True)
               for page in pages]
    for button in buttons:
        expect(button).to_be_visible()
    for button in buttons:
        button.click(no_wait_after=True)


def notices(page: Page) -> Locator:
    """The alerts of the page (outcomes at the top, problems inside cards)."""
    return main(page).get_by_test_id("stAlert")


@pytest.fixture
def made(app) -> Iterator[list[tuple[str, str]]]:
    """The (customer, thread) pairs a test makes: rejected if still waiting, then deleted.

    Deleted at the test's end so that the other browser tests of the session find the demo
    customers as they left them (Bob with no conversations, for one).
    """
    threads: list[tuple[str, str]] = []
    yield threads
    waiting = {p.thread_id: p.interrupt_id for p in app.desk.pending_approvals("sam")}
    for user_id, thread_id in threads:
        if thread_id in waiting:
            collect(app.desk.decide_approval("sam", thread_id,
                                             {"action": "reject", "reason": "test over"},
                                             interrupt_id=waiting[thread_id]))
        app.desk.delete_thread(user_id, thread_id)


@pytest.fixture
def requests(app, made: list[tuple[str, str]]) -> Callable[[str, str], str]:
    """Ask as a customer and return the thread, now waiting for a supervisor."""

    def ask(user_id: str, text: str) -> str:
        result = app.desk.ask(user_id, text)
        assert result.status == "awaiting_approval", (result.status, result.reply)
        made.append((user_id, result.thread_id))
        return result.thread_id

    return ask


def waiting_thread(app, user_id: str, text: str) -> str:
    """The thread a customer's browser just asked `text` in (now waiting for a supervisor)."""
    [thread] = [t.thread_id for t in app.desk.list_threads(user_id, limit=200).threads
                if t.title == text]
    return thread


def refunds_of(app, thread_id: str) -> list[tuple[str, int]]:
    """(order, cents) of every refund a thread made."""
    return [(e["order_id"], e["amount_cents"]) for e in app.desk.ledger("sam")
            if e["thread_id"] == thread_id and e["kind"] == "refund"]


def refundable_cents(app, user_id: str, order_id: str) -> int:
    """What is still refundable on one of a customer's orders now."""
    order = app.desk.shop.get_order(Customer("acme", user_id), order_id)
    return order.amount_cents - order.refunded_cents


# --- the mis-refund bug -------------------------------------------------------------------------

def test_invalid_edit_keeps_the_form_on_its_own_card(
        new_page: Callable[[], Page], app, requests, artifacts: Path) -> None:
    """Edits refused on Bob's card, a notice above: the form stays Bob's; Bob is refunded.

    On the old page, the edit form was a popover, whose open state the browser keeps by
    position: the notice of the refused edit moved it to Alice's card, filled with her order.
    """
    first_mark, alice_mark, bob_mark = marker(), marker(), marker()
    first_thread = requests("alice", f"Please refund ORD-1002, wrong colour ({first_mark})")
    alice_thread = requests("alice", f"Please refund ORD-1002, the jacket leaks ({alice_mark})")
    bob_thread = requests("bob", f"Please refund ORD-1101, it tore ({bob_mark})")

    page = new_page()
    # Tall enough for the screenshots to hold all three cards (the app scrolls inside itself).
    page.set_viewport_size({"width": 1400, "height": 3000})
    sign_in(page, SAM)
    alice_card, bob_card = card(page, alice_mark), card(page, bob_mark)
    expect(card(page, first_mark)).to_be_visible()
    expect(alice_card).to_be_visible()
    expect(bob_card).to_be_visible()
    # Longest waiting first: Alice's card is above Bob's.
    assert alice_card.bounding_box()["y"] < bob_card.bounding_box()["y"]
    expect(bob_card).to_contain_text("the full amount still refundable on ORD-1101")
    alice_before = alice_card.inner_text()
    snap(page, artifacts, "approval_cards-cards")

    bob_card.get_by_role("button", name="Edit, then approve").click()
    expect(open_forms(page)).to_have_count(1)
    form = bob_card.get_by_test_id("stForm")
    expect(form).to_be_visible()
    expect(form).to_contain_text("Change Bob Chen's refund on ORD-1101, then approve it")
    expect(amount_field(form)).to_have_value(re.compile(r"^\d+\.\d\d$"))  # the full amount
    snap(page, artifacts, "approval_cards-edit-form")

    # Letters in the amount: a number field keeps none, and an empty amount is refused in the
    # form (never taken for the full amount).
    amount_field(form).fill("")
    amount_field(form).press_sequentially("abc")
    expect(amount_field(form)).to_have_value("")
    form.get_by_role("button", name="Approve with these changes").click()
    expect(form.get_by_test_id("stAlert")).to_contain_text("Amount to refund: enter an amount")

    # A reason the desk refuses: the desk's answer appears in Bob's form, nowhere else.
    amount_field(form).fill("7")
    reason_field(form).fill(TOO_LONG_REASON)
    form.get_by_role("button", name="Approve with these changes").click()
    expect(form.get_by_test_id("stAlert")).to_contain_text("at most 500 characters")
    snap(page, artifacts, "approval_cards-invalid-edit")

    # Something appears above the cards and one disappears: the first request is decided
    # elsewhere, the inbox refreshes by itself and says so at the top.
    collect(app.desk.decide_approval("sam", first_thread,
                                     {"action": "reject", "reason": "asked twice"}))
    expect(main(page).get_by_text("Decided elsewhere in the meantime")).to_be_visible(
        timeout=REFRESH_MS)
    expect(card(page, first_mark)).to_have_count(0)
    snap(page, artifacts, "approval_cards-invalid-edit-notice-above")

    # The one open form is still Bob's, drawn in Bob's card, holding what was typed in it;
    # Alice's card is as it was.
    expect(open_forms(page)).to_have_count(1)
    expect(bob_card.get_by_test_id("stForm")).to_be_visible()
    shown = form_text(open_forms(page))
    assert "ORD-1101" in shown and "Bob Chen" in shown, shown
    assert "ORD-1002" not in shown and "Alice" not in shown, shown
    expect(reason_field(form)).to_have_value(TOO_LONG_REASON)
    expect(form.get_by_test_id("stAlert")).to_contain_text("at most 500 characters")
    expect(alice_card.get_by_test_id("stForm")).to_have_count(0)
    assert _without_wait(alice_card.inner_text()) == _without_wait(alice_before)

    # A valid edit in that form refunds Bob, never Alice.
    reason_field(form).fill("Torn strap")
    form.get_by_role("button", name="Approve with these changes").click()
    outcome = notices(page).filter(has_text="Approved Bob Chen's refund with your changes")
    expect(outcome).to_be_visible()
    expect(outcome).to_contain_text("Refunded $7.00 on ORD-1101")
    expect(card(page, bob_mark)).to_have_count(0)
    assert refunds_of(app, bob_thread) == [("ORD-1101", 700)]
    assert refunds_of(app, alice_thread) == [] and refunds_of(app, first_thread) == []
    expect(card(page, alice_mark)).to_be_visible()
    expect(open_forms(page)).to_have_count(0)
    snap(page, artifacts, "approval_cards-edit-outcome")


def _without_wait(card_text: str) -> str:
    """A card's text without its waiting time (which moves on while a test runs)."""
    return re.sub(r"waiting [^\n]*", "", card_text)


# --- forms that refuse what they cannot send ------------------------------------------------------

def test_reject_without_a_reason_is_refused_in_the_form(
        new_page: Callable[[], Page], app, requests, artifacts: Path) -> None:
    """An empty reason never leaves the form; a reason rejects, and the customer reads it."""
    mark = marker()
    thread = requests("alice", f"Please refund $3 on ORD-1002, the hood is torn ({mark})")
    page = new_page()
    sign_in(page, SAM)
    request_card = card(page, mark)
    request_card.get_by_role("button", name="Reject").click()
    form = request_card.get_by_test_id("stForm")
    expect(form).to_contain_text("Reject Alice Martin's refund on ORD-1002")
    form.get_by_role("button", name="Reject with this reason").click()
    expect(form.get_by_test_id("stAlert")).to_contain_text(
        "Write the reason the customer will read: nothing was sent")
    snap(page, artifacts, "approval_cards-reject-needs-a-reason")
    assert [p.thread_id for p in app.desk.pending_approvals("sam")].count(thread) == 1

    form.get_by_label("Reason (the customer reads it)").fill("Torn hoods are not covered")
    # The inbox refreshes itself every 5 s while the supervisor writes: what they typed stays.
    page.wait_for_timeout(REFRESH_SECONDS * 1000 + 1500)
    expect(form.get_by_label("Reason (the customer reads it)"))\
        .to_have_value("Torn hoods are not covered")
    form.get_by_role("button", name="Reject with this reason").click()
    outcome = notices(page).filter(has_text="Rejected Alice Martin's refund on ORD-1002")
    expect(outcome).to_contain_text("The customer was told the reason: “Torn hoods are not "
                                    "covered”")
    expect(card(page, mark)).to_have_count(0)
    assert refunds_of(app, thread) == []
    replies = [m.text for m in app.desk.view_thread("alice", thread).messages]
    assert any("Torn hoods are not covered" in text for text in replies), replies


def test_edit_above_the_refundable_amount_is_refused_in_the_form(
        new_page: Callable[[], Page], app, requests) -> None:
    """More than is refundable is refused in the form, naming the maximum; nothing is sent."""
    mark = marker()
    thread = requests("alice", f"Please refund $2 on ORD-1002, a button fell off ({mark})")
    most = refundable_cents(app, "alice", "ORD-1002") / 100
    page = new_page()
    sign_in(page, SAM)
    request_card = card(page, mark)
    request_card.get_by_role("button", name="Edit, then approve").click()
    form = request_card.get_by_test_id("stForm")
    expect(amount_field(form)).to_have_value("2.00")  # what the customer asked for
    expect(form).to_contain_text(f"The customer asked for $2.00; ${most:,.2f} is the full amount")
    amount_field(form).fill("500")
    form.get_by_role("button", name="Approve with these changes").click()
    expect(form.get_by_test_id("stAlert")).to_contain_text(
        f"Amount to refund: at most ${most:,.2f}, the full amount still refundable. Nothing "
        "was sent.")
    assert refunds_of(app, thread) == []
    assert thread in [p.thread_id for p in app.desk.pending_approvals("sam")]


# --- outcomes told truthfully --------------------------------------------------------------------

def test_an_approval_whose_action_fails_is_reported_as_a_failure(
        new_page: Callable[[], Page], app, requests, artifacts: Path) -> None:
    """The order changed after the card was drawn: approving fails, and the page says so."""
    left = refundable_cents(app, "alice", "ORD-1002")
    ask_for = left // 100 // 2 + 1  # two of these are more than is left
    first_mark, second_mark = marker(), marker()
    first = requests("alice", f"Please refund ${ask_for} on ORD-1002, stained ({first_mark})")
    second = requests("alice", f"Please refund ${ask_for} on ORD-1002, stained ({second_mark})")
    page = new_page()
    sign_in(page, SAM)
    second_card = card(page, second_mark)
    expect(second_card).to_be_visible()
    collect(app.desk.decide_approval("sam", first, {"action": "approve"}))
    second_card.get_by_role("button", name="Approve", exact=True).click()

    failure = notices(page).filter(has_text="Approved Alice Martin's refund on ORD-1002, but "
                                            "it failed")
    expect(failure).to_be_visible()
    expect(failure).to_contain_text("Nothing was changed; the customer was told.")
    # Shown as an error, not as a green success that happens to hold the words.
    expect(failure.get_by_test_id("stAlertContentError")).to_have_count(1)
    expect(main(page).get_by_test_id("stAlertContentSuccess").filter(has_text="ORD-1002"))\
        .to_have_count(0)
    expect(notices(page).filter(has_text=re.compile(r"^Approved Alice Martin's refund:")))\
        .to_have_count(0)
    snap(page, artifacts, "approval_cards-failed-outcome")
    assert refunds_of(app, second) == []
    assert refunds_of(app, first) == [("ORD-1002", ask_for * 100)]


# --- people at the same time ---------------------------------------------------------------------

def second_supervisor(app) -> None:
    """Tess, a second supervisor of acme (added once per session)."""
    try:
        app.desk.add_user("tess", display_name="Tess Moreau", email="tess@acme.example.com",
                          role="supervisor", tenant="acme")
    except InvalidInput:
        assert app.desk.user("tess").tenant == "acme"


def test_two_supervisors_deciding_at_once_decide_once(
        new_page: Callable[[], Page], app, requests, artifacts: Path) -> None:
    """Sam and Tess approve the same request at the same moment: one refund, one notice each."""
    second_supervisor(app)
    mark = marker()
    thread = requests("bob", f"Please refund $3 on ORD-1101, a buckle broke ({mark})")
    sam, tess = new_page(), new_page()
    sign_in(sam, SAM)
    sign_in(tess, TESS)
    approve_at_once((sam, tess), mark)

    approved = "Approved Bob Chen's refund: Refunded $3.00 on ORD-1101"
    elsewhere = "Decided elsewhere in the meantime: Bob Chen's refund on ORD-1101"
    for page in (sam, tess):
        expect(card(page, mark)).to_have_count(0, timeout=REFRESH_MS)
        expect(notices(page).filter(has_text=re.compile(
            f"{re.escape(approved)}|{re.escape(elsewhere)}"))).to_have_count(1)
    said = [notices(page).filter(has_text=approved).count() for page in (sam, tess)]
    assert sorted(said) == [0, 1], said
    loser = (sam, tess)[said.index(0)]
    expect(notices(loser).filter(has_text=elsewhere)).to_contain_text("Nothing was decided "
                                                                      "twice.")
    expect(main(loser).get_by_test_id("stException")).to_have_count(0)
    snap(sam, artifacts, "approval_cards-two-supervisors-sam")
    snap(tess, artifacts, "approval_cards-two-supervisors-tess")
    assert refunds_of(app, thread) == [("ORD-1101", 300)]


def test_two_customers_each_see_only_their_own_outcome(
        new_page: Callable[[], Page], app, made: list[tuple[str, str]],
        artifacts: Path) -> None:
    """Alice and Bob wait at once; Sam approves one and rejects the other; each sees theirs."""
    alice_mark, bob_mark = marker(), marker()
    alice_text = f"Please refund $2 on ORD-1002, the zip sticks ({alice_mark})"
    bob_text = f"Please refund $4 on ORD-1101, a strap frayed ({bob_mark})"
    alice, bob = new_page(), new_page()
    for page, who, text in ((alice, ALICE, alice_text), (bob, BOB, bob_text)):
        sign_in(page, who)
        sidebar(page).get_by_role("button", name="New conversation").click()
        send(page, text)
    for page in (alice, bob):
        expect(main(page).get_by_text(WAITING)).to_be_visible()
    alice_thread = waiting_thread(app, "alice", alice_text)
    bob_thread = waiting_thread(app, "bob", bob_text)
    made.extend([("alice", alice_thread), ("bob", bob_thread)])

    sam = new_page()
    sign_in(sam, SAM)
    card(sam, alice_mark).get_by_role("button", name="Approve", exact=True).click()
    expect(notices(sam).filter(has_text="Approved Alice Martin's refund")).to_be_visible()
    bob_card = card(sam, bob_mark)
    bob_card.get_by_role("button", name="Reject").click()
    bob_card.get_by_label("Reason (the customer reads it)").fill("Straps wear with use")
    bob_card.get_by_role("button", name="Reject with this reason").click()
    expect(notices(sam).filter(has_text="Rejected Bob Chen's refund")).to_be_visible()
    snap(sam, artifacts, "approval_cards-outcomes")

    # Each open page shows its own outcome by itself, and nothing of the other's.
    expect(assistant_bubbles(alice).filter(has_text="Refunded $2.00 on ORD-1002"))\
        .not_to_have_count(0, timeout=REFRESH_MS)
    expect(assistant_bubbles(bob).filter(has_text="Straps wear with use"))\
        .not_to_have_count(0, timeout=REFRESH_MS)
    for page, others in ((alice, ("ORD-1101", "Straps wear", "Bob")),
                         (bob, ("ORD-1002", "Refunded $2.00", "Alice"))):
        text = main(page).inner_text()
        assert not [word for word in others if word in text], (others, text)
    snap(alice, artifacts, "approval_cards-customer-alice")
    snap(bob, artifacts, "approval_cards-customer-bob")
    assert refunds_of(app, alice_thread) == [("ORD-1002", 200)]
    assert refunds_of(app, bob_thread) == []


# --- replying instead of deciding ----------------------------------------------------------------

def test_reply_instead_needs_a_message_and_reaches_the_customer(
        new_page: Callable[[], Page], app, made: list[tuple[str, str]],
        artifacts: Path) -> None:
    """Reply instead: refused empty; sent, nothing is refunded and the customer reads Sam."""
    mark = marker()
    text = f"Please refund $5 on ORD-1201, one bottle leaks ({mark})"
    carol = new_page()
    sign_in(carol, CAROL)
    sidebar(carol).get_by_role("button", name="New conversation").click()
    send(carol, text)
    expect(main(carol).get_by_text(WAITING)).to_be_visible()
    thread = waiting_thread(app, "carol", text)
    made.append(("carol", thread))
    sam = new_page()
    sign_in(sam, SAM)
    request_card = card(sam, mark)
    request_card.get_by_role("button", name="Reply instead").click()
    form = request_card.get_by_test_id("stForm")
    expect(form).to_contain_text("The refund on ORD-1201 is not carried out")
    form.get_by_role("button", name="Send reply instead").click()
    expect(form.get_by_test_id("stAlert")).to_contain_text(
        "Write the reply the customer will read: nothing was sent")
    reply = "Hi Carol, could you send a photo of the leak? Sam"
    form.get_by_label("Your reply (the customer reads it)").fill(reply)
    snap(sam, artifacts, "approval_cards-reply-instead")
    form.get_by_role("button", name="Send reply instead").click()
    expect(notices(sam).filter(has_text="Replied to Carol Diaz instead")).to_be_visible()
    expect(card(sam, mark)).to_have_count(0)

    expect(main(carol).get_by_text(reply)).to_be_visible(timeout=REFRESH_MS)
    expect(main(carol)).to_contain_text("Sam Rivera")
    snap(carol, artifacts, "approval_cards-reply-customer")
    assert refunds_of(app, thread) == []


# --- deciding from the card alone (refunds what is left on ORD-1101: keep it last) ---------------

def test_supervisor_decides_a_refund_from_the_card_alone(
        new_page: Callable[[], Page], app, requests, artifacts: Path) -> None:
    """The card holds everything needed: customer, order, earlier refunds, effect, policy, talk."""
    earlier = requests("bob", f"Please refund $1 on ORD-1101, scuffed ({marker()})")
    collect(app.desk.decide_approval("sam", earlier, {"action": "approve"}))
    left = refundable_cents(app, "bob", "ORD-1101")
    mark = marker()
    thread = requests("bob", f"Please refund ORD-1101, the seams came apart ({mark})")

    page = new_page()
    sign_in(page, SAM)
    request_card = card(page, mark)
    expect(request_card).to_be_visible()
    text = request_card.inner_text()
    snap(page, artifacts, "approval_cards-one-card")
    for fact in ("Refund for Bob Chen", "waiting",
                 "Order ORD-1101", "delivered", "30 L daypack", "Order amount: $89.00",
                 "Placed 21 Sep 2026", "Earlier refunds on this order:", "refunded so far",
                 "$1.00 on",
                 f"Refunds ${left / 100:,.2f}, the full amount still refundable on ORD-1101",
                 "Policy:", "within 30 days of delivery",
                 f"Customer: Please refund ORD-1101, the seams came apart ({mark})"):
        assert fact in text, (fact, text)
    assert re.search(r"Placed 21 Sep 2026 · delivered \d{1,2} \w{3} 2026", text), text
    for raw in ("order_id", "issue_refund", "{", '"amount"'):
        assert raw not in text, (raw, text)

    request_card.get_by_role("button", name="Approve", exact=True).click()
    outcome = notices(page).filter(has_text="Approved Bob Chen's refund")
    expect(outcome).to_contain_text(f"Refunded ${left / 100:,.2f} on ORD-1101")
    snap(page, artifacts, "approval_cards-approved")
    assert refunds_of(app, thread) == [("ORD-1101", left)]
