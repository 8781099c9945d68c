"""History in a real browser, as a customer and as a supervisor at the same time.

Erin (a customer) and Gina (her tenant's supervisor) open History in two browser contexts.
Erin reads her steps in words with dates, picks the step where her message arrived, sees the
agent's graph drawn as an SVG with the next step highlighted, and forks the conversation into
a refund request: the page says the new branch waits for a supervisor. Gina reads the same
thread with the technical columns, the node names and the branch marks. Screenshots of both
views go to test-artifacts/e2e/. What the test leaves waiting is rejected at its end, since
the server is shared by the whole session.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from test_browser import main, select_timeline_row, sidebar, sign_in, snap, timeline_rows

from agent.service import collect

pytestmark = pytest.mark.browser

ERIN = "Erin Walsh - customer, globex"
GINA = "Gina Novak - supervisor, globex"
REFUND = "Please refund ORD-2101, the keys stick"
HIGHLIGHT_FILL = "#ffbd45"  # agent/service/graph_picture.py
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
CUSTOMER_HEADERS = ["When", "Your message", "What happened"]
TECHNICAL_HEADERS = {"Step", "Source", "Written by", "Next", "Bytes", "Checkpoint id", "Branch"}
TALL = {"width": 1400, "height": 2200}  # Streamlit scrolls inside the page: a tall window
# A supervisor's desk screen: the technical columns fit without scrolling sideways (the grid
# only puts the columns in view into its accessible table, which the test reads).
DESK = {"width": 1920, "height": 1200}
DESK_TALL = {"width": 1920, "height": 2200}


def open_history(page: Page) -> None:
    """Go to History from the sidebar and wait for the timeline."""
    sidebar(page).get_by_role("link", name="History").click()
    expect(main(page).get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").locator("table[role=grid] tbody tr").first)\
        .to_be_attached()


def pick_conversation(page: Page, title: str) -> None:
    """Choose a conversation in the History picker by (part of) its title."""
    picker = main(page).get_by_role("combobox", name="Conversation")
    picker.click()
    page.get_by_role("option", name=re.compile(re.escape(title))).click()
    expect(picker).to_have_value(re.compile(re.escape(title)))


def headers(page: Page) -> list[str]:
    """The timeline's column headers as the reader sees them."""
    grid = page.get_by_test_id("stDataFrame").locator("table[role=grid]")
    return [h.strip() for h in grid.locator("thead th").all_text_contents() if h.strip()]


def row_index(page: Page, column: str, pattern: re.Pattern[str]) -> int:
    """The first timeline row whose `column` matches."""
    rows = timeline_rows(page)
    return next(i for i, row in enumerate(rows) if pattern.search(row[column]))


def graph_svg(page: Page) -> Locator:
    """The graph picture: the SVG that st.graphviz_chart drew in the browser."""
    return main(page).get_by_test_id("stGraphVizChart").locator("svg")


def highlighted(page: Page) -> list[dict[str, str]]:
    """The highlighted nodes of the picture: their name (SVG title), text and fill colour."""
    return graph_svg(page).locator("g.node.runs-next").evaluate_all("""nodes => nodes.map(n => ({
        name: n.querySelector('title').textContent,
        text: [...n.querySelectorAll('text')].map(t => t.textContent).join(' '),
        fill: (n.querySelector('path, polygon, ellipse').getAttribute('fill') || '')
              .toLowerCase(),
    }))""")


def test_history_for_a_customer_and_a_supervisor(new_page: Callable[[], Page], app,
                                                 artifacts: Path) -> None:
    """Words and dates for Erin, internals too for Gina; the graph picture for both."""
    mark = uuid.uuid4().hex[:6]
    question = f"Where is ORD-2101? ({mark})"
    thread = app.desk.ask("erin", question).thread_id
    try:
        _customer_reads_and_forks(new_page(), question, artifacts)
        _supervisor_reads_internals(new_page(), app, thread, question, artifacts)
    finally:
        for pending in app.desk.view_thread("erin", thread).pending_approvals:
            collect(app.desk.decide_approval("gina", thread, {"action": "reject",
                                                              "reason": "the test is over"},
                                             interrupt_id=pending.interrupt_id))
        assert not app.desk.view_thread("erin", thread).pending_approvals


def _customer_reads_and_forks(erin: Page, question: str, artifacts: Path) -> None:
    sign_in(erin, ERIN)
    open_history(erin)
    pick_conversation(erin, question)
    assert headers(erin) == CUSTOMER_HEADERS
    rows = timeline_rows(erin)
    assert all(DATE_TIME.match(row["When"]) for row in rows), rows
    assert {row["Your message"] for row in rows} == {question}
    assert rows[0]["What happened"] == "The assistant replied"
    assert f"You wrote: “{question}”" in [row["What happened"] for row in rows]
    page_text = main(erin).inner_text()
    assert "__start__" not in page_text and "get_order_status" not in page_text

    # The step where her message arrived: next comes recalling what the assistant knows.
    select_timeline_row(erin, row_index(erin, "What happened", re.compile("^You wrote")))
    expect(graph_svg(erin)).to_be_visible()
    expect(graph_svg(erin).locator("g.node.runs-next")).to_have_count(1)
    [node] = highlighted(erin)
    assert node["name"] == "load_memory"
    assert node["text"] == "recall what we know about you"  # in words, not the node name
    assert node["fill"] == HIGHLIGHT_FILL
    expect(main(erin).get_by_role("tab", name="Raw values")).to_have_count(0)
    erin.set_viewport_size(TALL)
    snap(erin, artifacts, "history-customer-selected")

    editor = main(erin).get_by_label("Edit the customer message")
    expect(editor).to_have_value(question)
    editor.fill(REFUND)
    main(erin).get_by_role("button", name="Fork with this message").click()
    notice = main(erin).get_by_text("The new branch is waiting for a supervisor to approve")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("ORD-2101")
    expect(main(erin).get_by_text("Reply:")).to_have_count(0)
    # Two versions of the conversation now: the table gains a Version column.
    grid = erin.get_by_test_id("stDataFrame").locator("table[role=grid]")
    expect(grid.locator("thead th").filter(has_text="Version")).to_have_count(1)
    assert headers(erin) == [*CUSTOMER_HEADERS, "Version"]
    rows = timeline_rows(erin)
    assert rows[0]["What happened"].startswith("Waiting for a supervisor to approve")
    assert "earlier version" in {row["Version"] for row in rows}
    snap(erin, artifacts, "history-customer-fork-waiting")


def _supervisor_reads_internals(gina: Page, app, thread: str, question: str,
                                artifacts: Path) -> None:
    gina.set_viewport_size(DESK)
    sign_in(gina, GINA)
    open_history(gina)
    pick_conversation(gina, question)
    shown = headers(gina)
    assert set(shown) >= TECHNICAL_HEADERS | {"When", "Customer message", "What happened"}
    rows = timeline_rows(gina)
    infos = app.desk.history("gina", thread, limit=20)
    assert [row["Checkpoint id"] for row in rows] == [i.checkpoint_id for i in infos]
    assert {"current · fork point", "other branch"} <= {row["Branch"] for row in rows}
    assert all(DATE_TIME.match(row["When"]) for row in rows)

    # The step where the original message arrived (on the other branch now).
    index = row_index(gina, "Written by", re.compile("^__start__$"))
    select_timeline_row(gina, index)
    step = rows[index]["Step"]
    # Not mangled by markdown: the underscores show, nothing turns bold.
    header = main(gina).get_by_text(
        f"Step {step} · loop · written by __start__ · next: load_memory", exact=True)
    expect(header).to_be_visible()
    expect(header.locator("strong")).to_have_count(0)
    expect(graph_svg(gina)).to_be_visible()
    [node] = highlighted(gina)
    assert node == {"name": "load_memory", "text": "load_memory", "fill": HIGHLIGHT_FILL}
    names = graph_svg(gina).locator("g.node title").all_text_contents()
    assert set(names) == set(app.desk.graph.get_graph().nodes)  # drawn from the compiled graph
    assert {"start", "end"} <= set(graph_svg(gina).locator("g.node text").all_text_contents())
    expect(main(gina).get_by_role("tab", name="Raw values")).to_be_visible()
    expect(main(gina).get_by_role("button", name="Fork with this message")).to_have_count(0)
    gina.set_viewport_size(DESK_TALL)
    snap(gina, artifacts, "history-supervisor-selected")

    # The waiting step: what runs next is the supervisor's approval.
    select_timeline_row(gina, row_index(gina, "Next", re.compile("^approval$")))
    expect(graph_svg(gina).locator("g.node.runs-next title")).to_have_text("approval")
    snap(gina, artifacts, "history-supervisor-waiting")
