"""Markdown a customer writes never becomes a link or an image, in anyone's view.

The customer's words come back inside the assistant's reply (a ticket's subject is echoed),
in tool calls and results, in the thread list, in a supervisor's approval card and in
History. Every link and image the customer tries to plant points at a `.example` address;
the real browser must never draw one of them as an <a> or <img>, not even for a moment
while a reply streams in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import assistant_bubbles, main, select_timeline_row, send, sidebar, sign_in, snap

pytestmark = pytest.mark.browser

DAVE = "Dave Okafor - customer, globex"
GINA = "Gina Novak - supervisor, globex"
# The offline model echoes a ticket's subject (the first 80 characters) in its reply, so the
# tricks come in two tickets: an image (a tracking pixel), a link, an autolink; then a bare
# URL, a www. address, an e-mail address and a Streamlit colour directive.
TICKETS = ("ticket ![p](http://p.example/t.png) [l](http://l.example) <http://a.example>",
           "ticket https://b.example/x www.w.example m@m.example :red[r](http://r.example)")
# The refund's reason also tries backticks, to close the code span an address is shown in.
REFUND = ("Please refund ORD-2001 ![p](http://p.example/t.png) [l](http://l.example) "
          "https://b.example/x www.w.example m@m.example <img src=http://h.example/i.png> "
          "` https://c.example ` a``https://d.example` ``[e](http://e.example)``")

# Records every link or image to a customer's address that ever appears on the page.
WATCH = """() => {
    window.__planted = [];
    const look = () => {
        // (A heading's own "#..." anchor is the app's, named after the heading's words.)
        const found = 'a[href*="example"]:not([href^="#"]), img[src*="example"]';
        for (const e of document.querySelectorAll(found)) {
            if (!window.__planted.includes(e.outerHTML)) window.__planted.push(e.outerHTML);
        }
    };
    look();
    new MutationObserver(look).observe(document.body,
        {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def watch(page: Page) -> None:
    """Start recording planted links and images on this page (again after a reload)."""
    page.evaluate(WATCH)


def planted(page: Page) -> list[str]:
    """Every planted link or image the page has shown since `watch`."""
    return page.evaluate("() => window.__planted")


def test_customer_markdown_is_inert_in_chat_approvals_and_history(
        new_page: Callable[[], Page], app, artifacts: Path) -> None:
    """Replies (streamed and stored), tool lines, titles, cards and History show only text."""
    dave = new_page()
    sign_in(dave, DAVE)
    watch(dave)
    for number, ticket in enumerate(TICKETS, start=1):
        send(dave, ticket)
        expect(assistant_bubbles(dave).filter(has_text="Opened ticket")).to_have_count(number)
    expect(assistant_bubbles(dave).last).to_contain_text("https://b.example/x")
    assert planted(dave) == [], "in the chat, while replies streamed or once stored"

    dave.reload()  # the thread drawn afresh from its checkpoints
    watch(dave)
    expect(assistant_bubbles(dave).last).to_contain_text("www.w.example")
    sidebar(dave).get_by_role("button", name="New conversation").click()
    send(dave, REFUND)
    expect(main(dave).get_by_text("Waiting for a supervisor to approve")).to_be_visible()
    assert planted(dave) == [], "in the stored thread, the thread list or the waiting notice"
    snap(dave, artifacts, "test_markdown_injection-customer")

    gina = new_page()
    sign_in(gina, GINA)
    watch(gina)
    expect(main(gina)).to_contain_text("www.w.example")
    assert planted(gina) == [], "in the approval card"
    snap(gina, artifacts, "test_markdown_injection-supervisor")

    sidebar(gina).get_by_role("link", name="History").click()
    expect(main(gina).get_by_test_id("stDataFrame")).to_be_visible()
    select_timeline_row(gina, 0)
    expect(main(gina).get_by_role("tab", name="Messages")).to_be_visible()
    expect(main(gina)).to_contain_text("m@m.example")
    assert planted(gina) == [], "in the supervisor's History"
    snap(gina, artifacts, "test_markdown_injection-history")
