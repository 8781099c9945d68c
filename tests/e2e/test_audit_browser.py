"""The Audit page in a real browser: a supervisor decides, reads the row, filters, downloads.

The server and its database are shared by the whole browser session, so this test works in
tenant globex with orders no other browser test uses (Dave's ORD-2002, a $1 refund of Erin's
ORD-2101), marks its requests with a word of its own, and checks rows by that word.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from test_browser import ROW_HEIGHT, main, sidebar, sign_in, snap

from agent.audit_words import day_range
from agent.service import collect
from agent.service.audit import CSV_COLUMNS

pytestmark = pytest.mark.browser

GINA = "Gina Novak - supervisor, globex"
DEFAULT_DAYS = 30  # the page's default time range


def decisions_grid(page: Page) -> Locator:
    """The Decisions tab's table (the page's first dataframe)."""
    return main(page).get_by_test_id("stDataFrame").first


def audit_rows(page: Page) -> list[dict[str, str]]:
    """The table's rows as {column: text}, for the columns in view.

    The grid draws on a canvas; the cells in view are also in an offscreen accessible table.
    """
    table = decisions_grid(page).locator("table[role=grid]")
    headers = table.locator("thead th").all_text_contents()
    return [dict(zip(headers, row.locator("td").all_text_contents(), strict=True))
            for row in table.locator("tbody tr").all()]


def select_row(page: Page, index: int) -> None:
    """Tick the selection checkbox of one row (0 = the first under the header)."""
    canvas = decisions_grid(page).get_by_test_id("data-grid-canvas")
    # The grid's scroller overlays its canvas and takes the pointer events, hence force.
    canvas.click(position={"x": 15, "y": ROW_HEIGHT * (index + 1) + ROW_HEIGHT // 2},
                 force=True)


def test_a_supervisor_reads_filters_and_downloads_the_audit_trail(
        app, new_page: Callable[[], Page], artifacts: Path) -> None:
    """Gina approves Erin's refund, finds the row beside Dave's, filters to Erin, gets the CSV."""
    mark = f"case-{uuid.uuid4().hex[:8]}"
    # Dave asked twice to cancel the same order; approved twice elsewhere, the second fails.
    twice = [app.desk.ask("dave", f"Please cancel ORD-2002, ordered twice {mark}").thread_id,
             app.desk.ask("dave", f"cancel ORD-2002 please, duplicate {mark}").thread_id]
    for thread_id in twice:
        collect(app.desk.decide_approval("gina", thread_id, {"action": "approve"}))
    erin = app.desk.ask("erin", f"Please refund $1 on ORD-2101, the keys stick {mark}")
    assert erin.status == "awaiting_approval", erin.reply

    page = new_page()
    sign_in(page, GINA)
    card = (main(page).get_by_test_id("stVerticalBlock").filter(has_text=mark)
            .filter(has=page.get_by_role("button", name="Approve", exact=True)).last)
    card.get_by_role("button", name="Approve", exact=True).click()
    expect(card).to_have_count(0)  # decided: the card left the inbox

    sidebar(page).get_by_role("link", name="Audit").click()
    expect(main(page).get_by_role("heading", name="Audit")).to_be_visible()
    expect(decisions_grid(page)).to_contain_text("Erin Walsh")
    rows = audit_rows(page)
    # Who, what, whether it worked and the request are in view without scrolling.
    seen = [(r["Customer"], r["Action"], r["Succeeded"], r["Request"], r["By"]) for r in rows]
    refund = ("Erin Walsh", "Approved", "Yes", "Refund · ORD-2101 · $1.00", "Gina Novak")
    failed = ("Dave Okafor", "Approved", "No - failed", "Cancellation · ORD-2002", "Gina Novak")
    cancelled = ("Dave Okafor", "Approved", "Yes", "Cancellation · ORD-2002", "Gina Novak")
    assert seen.index(refund) < seen.index(failed) < seen.index(cancelled), seen  # newest first
    assert datetime.strptime(rows[seen.index(refund)]["When (UTC)"], "%Y-%m-%d %H:%M:%S")
    expect(main(page)).to_contain_text("failed after approval")

    # The failed row, selected, reads in full below the table.
    select_row(page, seen.index(failed))
    detail = main(page).locator(".st-key-audit_row")
    expect(detail).to_contain_text("Approved by Gina Novak · customer Dave Okafor")
    expect(detail).to_contain_text(f"duplicate {mark}")
    expect(detail).to_contain_text("Failed: ORD-2002 cannot be cancelled: it is cancelled "
                                   "already.")
    expect(detail.get_by_test_id("stAlertContentError")).to_be_visible()
    page.mouse.move(0, 0)  # the grid's toolbar shows while the pointer is over it
    snap(page, artifacts, "audit-page")

    # Only Erin's rows.
    picker = main(page).get_by_role("combobox", name="Customer")
    picker.click()
    page.get_by_role("option", name="Erin Walsh").click()
    expect(decisions_grid(page)).not_to_contain_text("Dave Okafor")
    expect(decisions_grid(page)).to_contain_text("Erin Walsh")
    rows = audit_rows(page)
    assert rows and {r["Customer"] for r in rows} == {"Erin Walsh"}, rows
    expect(detail).to_have_count(0)  # the selection went with the rows it pointed at

    with page.expect_download() as download:
        main(page).get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_bytes().decode("utf-8")
    assert download.value.suggested_filename.endswith(".csv")
    lines = list(csv.reader(io.StringIO(text)))
    assert tuple(lines[0]) == CSV_COLUMNS
    exported = [dict(zip(CSV_COLUMNS, line, strict=True)) for line in lines[1:]]
    assert {r["customer"] for r in exported} == {"Erin Walsh (erin)"}
    ours = [r for r in exported if mark in r["reason"]]
    assert [(r["action"], r["decided by"], r["ok"], r["thread"]) for r in ours] == \
        [("approve", "Gina Novak (gina)", "yes", erin.thread_id)]
    assert ours[0]["outcome"].startswith("Refunded $1.00 on ORD-2101")
    # Exactly the filtered rows: what the desk gives for the page's filters.
    today = datetime.now(UTC).date()
    since, until = day_range(today - timedelta(days=DEFAULT_DAYS), today)
    assert text == app.desk.audit_csv("gina", customer_id="erin", since=since, until=until)
    assert len(exported) == len(rows)
    snap(page, artifacts, "audit-page-filtered")


def test_the_feedback_tab_shows_the_tenant_ratings(
        app, new_page: Callable[[], Page], artifacts: Path) -> None:
    """Erin rates a reply and closes a conversation with stars; Gina reads both."""
    mark = f"case-{uuid.uuid4().hex[:8]}"
    thread_id = app.desk.ask("erin", "Where is ORD-2101?").thread_id
    reply = [m for m in app.desk.view_thread("erin", thread_id).messages
             if m.role == "assistant" and m.text][-1]
    app.desk.rate_reply("erin", thread_id, reply.id, 1)
    app.desk.close_with_rating("erin", thread_id, 4, f"Quick and clear {mark}")

    page = new_page()
    sign_in(page, GINA)
    sidebar(page).get_by_role("link", name="Audit").click()
    main(page).get_by_role("tab", name="Feedback").click()
    feedback = main(page).get_by_role("tabpanel", name="Feedback")
    expect(feedback.get_by_test_id("stMetric").first).to_be_visible()
    expect(feedback).to_contain_text("Average conversation rating")
    expect(feedback.get_by_test_id("stDataFrame").first).to_contain_text(mark)
    expect(feedback.get_by_test_id("stDataFrame").first).to_contain_text("★★★★☆")
    expect(feedback.get_by_test_id("stDataFrame").nth(1)).to_contain_text("Thumbs up")
    snap(page, artifacts, "audit-feedback")
