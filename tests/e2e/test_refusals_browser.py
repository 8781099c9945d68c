"""A request that can never succeed, in a real browser: the customer reads why at once, and it
never appears in the supervisors' inbox.

The server is shared by the whole session, so the request carries a word no other test uses,
and the expected refusal is worked out from the order as it stands when the test runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import assistant_bubbles, main, send, sign_in, snap

from agent.domain.rules import refund_refusal
from agent.domain.shop import Customer

pytestmark = pytest.mark.browser

CAROL = "Carol Diaz - customer, acme"
SAM = "Sam Rivera - supervisor, acme"


def test_a_refund_above_what_is_left_is_refused_in_the_chat_not_sent_to_the_inbox(
        new_page: Callable[[], Page], app, artifacts: Path) -> None:
    """Carol asks for more than her order cost: she is told why; Sam never sees it."""
    mark = f"case-{uuid.uuid4().hex[:8]}"
    bottles = app.desk.shop.get_order(Customer("acme", "carol"), "ORD-1201")
    why = refund_refusal(bottles, 50000)
    assert why is not None
    ledger = app.desk.ledger("sam")

    customer = new_page()
    sign_in(customer, CAROL)
    send(customer, f"Please refund $500 on ORD-1201, the bottles leak ({mark})")
    expect(assistant_bubbles(customer).last).to_contain_text(why)
    expect(main(customer)).not_to_contain_text("Waiting for a supervisor")
    snap(customer, artifacts, "refusals-customer")

    supervisor = new_page()
    sign_in(supervisor, SAM)
    expect(main(supervisor)).to_contain_text("Approvals")
    expect(main(supervisor)).not_to_contain_text(mark)
    snap(supervisor, artifacts, "refusals-supervisor-inbox")
    assert all(mark not in p.reason and mark not in str(p.arguments)
               for p in app.desk.pending_approvals("sam"))
    assert app.desk.ledger("sam") == ledger
