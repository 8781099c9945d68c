"""The audit trail under concurrent decisions from two browser windows, on SQLite and PostgreSQL.

Issue 9: "The audit trail holds one row per decision with the right person, including under
concurrent decisions from two windows." Sam and Tess, two supervisors of acme, each in a browser
context of their own on one server (a server of this test's own, as in the handoff test):

- both click Approve on the same card at the same moment: one refund and exactly one audit
  row, naming the supervisor whose window says "Approved";
- at the same moment Sam approves one request and Tess rejects another: two rows, each naming
  the person who clicked, Tess's with her reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_approval_cards import (
    REFRESH_MS,
    SAM,
    TESS,
    approve_at_once,
    card,
    marker,
    notices,
    second_supervisor,
)
from test_browser import sign_in, snap
from test_handoff_browser import OwnApp, own_app  # noqa: F401 (a fixture: sqlite, postgres)

pytestmark = pytest.mark.browser


def waiting(own: OwnApp, user_id: str, text: str) -> str:
    """A customer's request, now waiting for a supervisor; its thread."""
    result = own.desk.ask(user_id, text)
    assert result.status == "awaiting_approval", (result.status, result.reply)
    return result.thread_id


def rows_of(own: OwnApp, thread_id: str) -> list[tuple[str, str, str]]:
    """(action, who decided, reason) of every audit row of one thread."""
    return [(row.action, row.actor_id, row.reason) for row in own.desk.audit_trail("sam")
            if row.thread_id == thread_id]


def refunds_of(own: OwnApp, thread_id: str) -> list[int]:
    """Cents refunded by one thread."""
    return [e["amount_cents"] for e in own.desk.ledger("sam")
            if e["thread_id"] == thread_id and e["kind"] == "refund"]


def test_concurrent_decisions_from_two_windows_leave_one_row_each_with_the_right_person(
        own_app: OwnApp, pages_on, artifacts: Path) -> None:  # noqa: F811
    """Same card clicked in two windows at once: one row; two cards at once: two rows."""
    own = own_app
    second_supervisor(own)  # Tess Moreau, supervisor of acme
    same, alices, bobs = marker(), marker(), marker()
    raced = waiting(own, "carol", f"Please refund $1 on ORD-1201, a dent ({same})")
    approved = waiting(own, "alice", f"Please refund $2 on ORD-1002, the zip sticks ({alices})")
    rejected = waiting(own, "bob", f"Please refund $3 on ORD-1101, a strap frayed ({bobs})")

    sam, tess = pages_on(own.server.url), pages_on(own.server.url)
    sign_in(sam, SAM)
    sign_in(tess, TESS)

    # 1. The same card, Approve in both windows at once.
    approve_at_once((sam, tess), same)
    said_approved = "Approved Carol Diaz's refund"
    for page in (sam, tess):
        expect(card(page, same)).to_have_count(0, timeout=REFRESH_MS)
        expect(notices(page).filter(has_text=re.compile(
            f"{re.escape(said_approved)}|Decided elsewhere"))).to_have_count(1)
    winners = [who for who, page in (("sam", sam), ("tess", tess))
               if notices(page).filter(has_text=said_approved).count()]
    assert len(winners) == 1, winners
    assert [(action, who) for action, who, _ in rows_of(own, raced)] == [("approve", winners[0])]
    assert refunds_of(own, raced) == [100]

    # 2. Two cards at once: Sam approves Alice's, Tess rejects Bob's with a reason.
    tess_card = card(tess, bobs)
    tess_card.get_by_role("button", name="Reject").click()
    tess_card.get_by_label("Reason (the customer reads it)").fill("Straps wear with use")
    sam_button = card(sam, alices).get_by_role("button", name="Approve", exact=True)
    tess_button = tess_card.get_by_role("button", name="Reject with this reason")
    expect(sam_button).to_be_visible()
    expect(tess_button).to_be_visible()
    sam_button.click(no_wait_after=True)
    tess_button.click(no_wait_after=True)
    expect(notices(sam).filter(has_text="Approved Alice Martin's refund")).to_be_visible(
        timeout=REFRESH_MS)
    expect(notices(tess).filter(has_text="Rejected Bob Chen's refund")).to_be_visible(
        timeout=REFRESH_MS)
    snap(sam, artifacts, f"audit-concurrency-{own.saver}-sam")
    snap(tess, artifacts, f"audit-concurrency-{own.saver}-tess")

    assert [(a, who) for a, who, _ in rows_of(own, approved)] == [("approve", "sam")]
    assert rows_of(own, rejected) == [("reject", "tess", "Straps wear with use")]
    assert refunds_of(own, approved) == [200] and refunds_of(own, rejected) == []
    # Nothing else was written: three decisions, three rows, in the trail the page reads.
    assert sorted(row.thread_id for row in own.desk.audit_trail("tess")) == sorted(
        [raced, approved, rejected])
