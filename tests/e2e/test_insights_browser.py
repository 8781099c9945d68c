"""The Insights page in a real browser: a supervisor reads the figures and drills down to History.

The server and its database are shared by the whole browser session, so figures are whatever
the other browser tests left plus this test's own conversation (exact figures are checked in
tests/test_insights.py); this test marks its conversation with a word of its own and follows
it from the Insights page to its History.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import SAM, main, sidebar, sign_in, snap

from agent.service import collect

pytestmark = pytest.mark.browser


def test_a_supervisor_reads_insights_and_opens_a_conversation_in_history(
        app, new_page: Callable[[], Page], artifacts: Path) -> None:
    """Sam sees the figures, the slow nodes and the dearest threads, and drills into one."""
    mark = f"insight-{uuid.uuid4().hex[:8]}"
    carol = app.desk.ask("carol", f"Please refund ORD-1201, the lid leaks {mark}")
    assert carol.status == "awaiting_approval", carol.reply
    collect(app.desk.decide_approval("sam", carol.thread_id, {"action": "approve"}))

    page = new_page()
    sign_in(page, SAM)
    sidebar(page).get_by_role("link", name="Insights").click()
    area = main(page)
    expect(area.get_by_role("heading", name="Insights")).to_be_visible()
    for words in ("Conversations", "Model tokens", "Estimated cost", "Where time goes",
                  "Dearest conversations", "Approvals", "Refunds and cancellations",
                  "Satisfaction"):
        expect(area).to_contain_text(words)
    expect(area).to_contain_text("No price for offline")  # the server sets no price table
    expect(area.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(area.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    # The slowest runs of a node link to their conversation's History.
    expect(area.get_by_role("link").filter(has_text=" at step ").first).to_be_visible()
    snap(page, artifacts, "supervisor-insights")

    picker = area.get_by_role("combobox", name="Open a conversation's history")
    picker.click()
    picker.fill(mark)
    page.get_by_role("option").filter(has_text=mark).click()
    # The link is redrawn for the pick by the rerun the pick starts: follow it once it is.
    link = area.get_by_role("link", name="Open its history")
    expect(link).to_have_attribute("href", re.compile(rf"thread={carol.thread_id}"))
    link.click()

    expect(area.get_by_role("heading", name="History")).to_be_visible()
    expect(area.get_by_role("combobox", name="Conversation")).to_have_value(
        re.compile(rf"^Please refund ORD-1201, the lid leaks {mark} \(.*carol\)$"))
    expect(area).to_contain_text(mark)
    snap(page, artifacts, "supervisor-insights-drilldown")
