"""The Audit page under AppTest: the real app on a real SQLite file, decided through the desk.

What AppTest cannot do, and where it is covered instead: the CSV button's file is made when
the browser asks for it (a deferred download), so its content is checked through the desk
(tests/test_audit.py) and downloaded for real in tests/e2e/test_audit_browser.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from agent.audit_words import FAILED, SUCCEEDED
from agent.service import SupportDesk, collect
from ui.components.text import plain

AUDIT = "views/audit.py"
REFUND = "Please refund ORD-1001, the boots leak"
LINK = "[click here](http://evil.example/x)"


def audit_page(open_app, user_id: str) -> AppTest:
    """Sign in and open the Audit page."""
    at = open_app(user_id).switch_page(AUDIT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decide(desk: SupportDesk, user: str, text: str, supervisor: str = "sam", **decision) -> str:
    """A customer's request, decided by a supervisor; returns the thread."""
    asked = desk.ask(user, text)
    assert asked.status == "awaiting_approval", asked.reply
    collect(desk.decide_approval(supervisor, asked.thread_id, decision))
    return asked.thread_id


def table(at: AppTest) -> pd.DataFrame:
    """The Decisions tab's table."""
    assert at.tabs[0].dataframe, "no decisions table on the page"
    return at.tabs[0].dataframe[0].value


def download(at: AppTest):
    """The CSV button."""
    buttons = [b for b in at.get("download_button") if b.label == "Download CSV"]
    assert len(buttons) == 1
    return buttons[0]


def select_row(at: AppTest, index: int) -> AppTest:
    """Select a table row as the browser does: the table's selection state, then a rerun."""
    table = at.tabs[0].dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [index], "columns": []}}
    return at.run()


def shown_text(at: AppTest) -> str:
    """Everything drawn as markdown, captions, alerts."""
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "error", "warning")
                     for e in getattr(at, kind))


@pytest.fixture
def decisions(desk: SupportDesk) -> dict[str, str]:
    """An approval and an edit (alice), a rejection (bob), a failed approval (bob)."""
    approved = decide(desk, "alice", REFUND, action="approve")
    edited = decide(desk, "alice", "Please refund ORD-1002, the zip broke", action="edit",
                    arguments={"amount": 20})
    full = desk.ask("bob", "Please refund ORD-1101, the strap tore").thread_id
    partial = desk.ask("bob", "refund $20 on ORD-1101").thread_id
    collect(desk.decide_approval("sam", full, {"action": "approve"}))
    collect(desk.decide_approval("sam", partial, {"action": "approve"}))
    return {"approved": approved, "edited": edited, "full": full, "partial": partial}


def test_customers_are_not_offered_the_audit_page(open_app):
    """Only supervisors have an Audit page; a customer's navigation has none."""
    at = open_app("alice")
    with pytest.raises(ValueError):  # AppTest refuses a page the navigation does not offer
        at.switch_page(AUDIT)
    assert open_app("sam").switch_page(AUDIT), "while a supervisor's navigation offers it"


def test_decisions_are_listed_newest_first_in_words(desk, decisions, open_app):
    """When, customer, action in words, request, who, before -> after, reason, outcome, result."""
    at = audit_page(open_app, "sam")
    rows = table(at)
    assert list(rows.columns) == ["When (UTC)", "Customer", "Action", "Succeeded", "Request",
                                  "By", "Changes", "Reason or message", "Outcome"]
    assert list(rows["Action"]) == ["Approved", "Approved", "Edited then approved", "Approved"]
    assert list(rows["Customer"]) == ["Bob Chen", "Bob Chen", "Alice Martin", "Alice Martin"]
    assert set(rows["By"]) == {"Sam Rivera"}
    failed, full, edited, approved = rows.to_dict("records")
    assert edited["Changes"] == "amount: full amount -> $20.00"
    assert edited["Request"] == "Refund · ORD-1002 · full amount"
    assert edited["Reason or message"] == "the zip broke"
    assert edited["Outcome"].startswith("Refunded $20.00 on ORD-1002")
    assert approved["Changes"] == "" and approved["Reason or message"] == "the boots leak"
    assert failed["Request"] == "Refund · ORD-1101 · $20.00"
    assert "refunded in full already" in failed["Outcome"]
    assert (failed["Succeeded"], full["Succeeded"]) == (FAILED, SUCCEEDED)
    # A date and a time, in UTC as the heading says.
    assert datetime.strptime(approved["When (UTC)"], "%Y-%m-%d %H:%M:%S").date() == \
        datetime.now(UTC).date()
    assert "1 failed after approval" in shown_text(at)
    assert at.tabs[0].label == "Decisions" and at.tabs[1].label == "Feedback"
    assert not download(at).disabled

    # A selected row reads in full below the table; a failure as an error.
    assert "Select a row to read it in full." in shown_text(at)
    select_row(at, 0)
    assert [e.value for e in at.error] == [
        "**Failed:** " + plain(failed["Outcome"])]
    assert "**Request:** " + plain("Refund · ORD-1101 · $20.00") in shown_text(at)
    select_row(at, 2)
    assert not at.error
    assert "**Changes:** " + plain("amount: full amount -> $20.00") in shown_text(at)
    assert "**Reason:** " + plain("the zip broke") in shown_text(at)


def test_filters_by_customer_action_and_time(desk, decisions, open_app):
    """The customer list is the tenant's; filters narrow the table; a bad range is an error."""
    at = audit_page(open_app, "sam")
    customer = at.selectbox(key="audit_customer")
    assert customer.options == ["All", "Alice Martin", "Bob Chen", "Carol Diaz"]
    customer.set_value("alice").run()
    assert set(table(at)["Customer"]) == {"Alice Martin"} and len(table(at)) == 2

    at.multiselect(key="audit_actions").set_value(["edit"]).run()
    assert list(table(at)["Action"]) == ["Edited then approved"]
    at.multiselect(key="audit_actions").set_value(["reject", "respond"]).run()
    assert not at.tabs[0].dataframe
    assert "No decisions match these filters" in shown_text(at)
    assert download(at).disabled, "nothing to export"

    at.selectbox(key="audit_customer").set_value("").run()
    at.multiselect(key="audit_actions").set_value([]).run()
    assert len(table(at)) == 4
    days = at.date_input(key="audit_days")
    today = datetime.now(UTC).date()
    assert days.value == (today - timedelta(days=30), today), "the last 30 days by default"
    days.set_value((today - timedelta(days=9), today - timedelta(days=2))).run()
    assert not at.tabs[0].dataframe and "No decisions match" in shown_text(at)

    at.date_input(key="audit_days").set_value((today, today - timedelta(days=1))).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("before it starts" in e for e in errors), errors
    assert not at.tabs[0].dataframe and not at.get("download_button")


def test_a_supervisor_sees_only_their_own_tenant(desk, decisions, open_app):
    """gina (globex): none of acme's rows, only globex customers to pick."""
    decide(desk, "dave", "Please cancel ORD-2002, ordered twice", supervisor="gina",
           action="reject", reason="Already packed")
    at = audit_page(open_app, "gina")
    assert at.selectbox(key="audit_customer").options == ["All", "Dave Okafor", "Erin Walsh"]
    rows = table(at)
    assert list(rows["Customer"]) == ["Dave Okafor"]
    assert list(rows["Action"]) == ["Rejected"] and list(rows["By"]) == ["Gina Novak"]
    assert list(rows["Reason or message"]) == ["Already packed"]
    assert "Alice" not in rows.to_string() and "Bob" not in rows.to_string()

    at = audit_page(open_app, "sam")
    assert "Dave Okafor" not in table(at).to_string()


def test_an_empty_trail_says_so(desk, open_app):
    """Before any decision: an explanation, no table, a disabled CSV button."""
    at = audit_page(open_app, "sam")
    assert not at.tabs[0].dataframe
    assert "No decisions match these filters" in shown_text(at)
    assert download(at).disabled
    assert "No ratings yet" in shown_text(at)
    assert [m.value for m in at.metric] == ["-", "0 / 0", "-", "0"]


def test_what_customers_wrote_stays_text(desk, open_app):
    """A reason with a markdown link is shown in a cell as typed, never as markdown."""
    thread = desk.ask("carol", f"Can I talk to a person please? {LINK}").thread_id
    collect(desk.reply_as_staff("sam", thread, f"Sure, see {LINK}"))
    at = audit_page(open_app, "sam")
    rows = table(at)
    assert list(rows["Action"]) == ["Supervisor replied", "Handoff requested"]
    assert LINK in rows["Reason or message"][0] and LINK in rows["Reason or message"][1]
    assert list(rows["By"]) == ["Sam Rivera", "Carol Diaz"]
    assert "evil.example" not in shown_text(at)
    # Read in full, the words are escaped: a link's syntax and address stay as typed.
    select_row(at, 0)
    message = [m.value for m in at.markdown if m.value.startswith("**Message:**")]
    assert message == ["**Message:** " + plain(f"Sure, see {LINK}")]
    assert "`here](http://evil.example/x)`" in message[0], "the address is code, not a link"


def test_feedback_tab_shows_ratings_with_headline_figures(desk, open_app):
    """Thumbs on replies (with the reply's opening words) and stars with comments."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    reply = [m for m in desk.view_thread("alice", thread).messages
             if m.role == "assistant" and m.text][-1]
    desk.rate_reply("alice", thread, reply.id, 1)
    other = desk.ask("bob", "Where is ORD-1101?").thread_id
    bob_reply = [m for m in desk.view_thread("bob", other).messages
                 if m.role == "assistant" and m.text][-1]
    desk.rate_reply("bob", other, bob_reply.id, -1)
    desk.close_with_rating("bob", other, 4, "Quick, but [a link](http://x.example)")
    desk.close_with_rating("alice", thread, 5)
    erin = desk.ask("erin", "Where is ORD-2101?").thread_id
    desk.close_with_rating("erin", erin, 1, "globex only")

    at = audit_page(open_app, "sam")
    figures = {m.label: m.value for m in at.metric}
    assert figures == {"Replies rated helpful": "50%", "Thumbs up / down": "1 / 1",
                       "Average conversation rating": "4.5 / 5", "Rated conversations": "2"}
    conversations, replies = (frame.value for frame in at.tabs[1].dataframe)
    assert list(conversations["Rating"]) == ["★★★★★", "★★★★☆"]
    assert list(conversations["Customer"]) == ["Alice Martin", "Bob Chen"]
    assert list(conversations["Comment"]) == ["", "Quick, but [a link](http://x.example)"]
    assert set(replies["Rating"]) == {"Thumbs up", "Thumbs down"}
    assert reply.text[:40] in replies.to_string(max_colwidth=400)
    assert "globex only" not in conversations.to_string()

    at = audit_page(open_app, "gina")
    figures = {m.label: m.value for m in at.metric}
    assert figures["Average conversation rating"] == "1.0 / 5"
    assert figures["Thumbs up / down"] == "0 / 0"
