"""End-to-end: a customer attaches a photo (or a PDF) to a message; a supervisor sees it.

Alice picks a PNG in the chat input and asks for a refund; her bubble shows the photo, and the
supervisor's approval card shows the same photo, loaded from the blob store. A PDF is offered
as a download under its name, which shows exactly as typed (never a link). Runs on a server of
this module's own, on a fresh shop. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from servers import AppServer, snap_whole
from support.files import pdf_bytes, png_bytes
from support.server_process import seeded_desk
from test_browser import main, sidebar, sign_in

from agent.domain.attachments import human_size
from agent.service import SupportDesk

pytestmark = pytest.mark.browser

ALICE = "Alice Martin - customer, acme"
BOB = "Bob Chen - customer, acme"
SAM = "Sam Rivera - supervisor, acme"
ASK = "Ask about your orders..."
REFUND_REQUEST = "refund ORD-1001 the screen is cracked"
WAITING = "Waiting for a supervisor to approve"
PHOTO = "screen.png"
# Markdown and link syntax a customer may put in a file name: shown as typed, never rendered.
TRICKY_PDF = "*receipt* [click](javascript:alert(1)) <img src=x onerror=alert(1)>.pdf"


@dataclass
class Shop:
    """This module's server on a fresh SQLite shop, and a desk on the same file."""

    server: AppServer
    desk: SupportDesk


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Shop]:
    """`streamlit run ui/app.py` on a new SQLite file (the demo shop, untouched)."""
    folder = tmp_path_factory.mktemp("attachments")
    path = folder / "ui.db"
    desk = seeded_desk(folder, path)
    server = AppServer({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(path)}, folder)
    try:
        server.start()
        yield Shop(server, desk)
    finally:
        server.stop()
        desk.close()
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, artifacts / "streamlit-attachments.log")


@pytest.fixture
def shop_page(shop: Shop, pages_on: Callable[[str], Page]) -> Callable[[], Page]:
    """A factory of pages on this module's server, each in a fresh browser context."""
    return lambda: pages_on(shop.server.url)


def send_with_file(page: Page, text: str, name: str, mime: str, data: bytes) -> None:
    """Pick a file in the chat input, type the message and send both."""
    chat = page.get_by_test_id("stChatInput")
    chat.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])
    # The picked file's chip (its name may be shortened there; its remove button names it).
    expect(chat.get_by_role("button", name=f"Remove {name}")).to_be_visible()
    box = page.get_by_placeholder(ASK)
    box.fill(text)
    box.press("Enter")


def customer_bubbles(page: Page) -> Locator:
    """The customer's own chat bubbles."""
    return main(page).get_by_role("group", name="Chat message from user")


def expect_image_drawn(image: Locator) -> None:
    """The image is visible and the browser decoded it (not a broken-image icon)."""
    expect(image).to_be_visible()
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0


def test_customer_attaches_a_photo_and_the_supervisor_sees_it_on_the_card(
        shop: Shop, shop_page: Callable[[], Page], artifacts: Path) -> None:
    """The photo shows in Alice's bubble and on Sam's approval card; the checkpoint holds
    only its reference."""
    alice = shop_page()
    sign_in(alice, ALICE)
    sidebar(alice).get_by_role("button", name="New conversation").click()
    photo = png_bytes(240, 160, (30, 120, 200))
    send_with_file(alice, REFUND_REQUEST, PHOTO, "image/png", photo)
    expect(main(alice).get_by_text(WAITING)).to_be_visible()

    bubble = customer_bubbles(alice).filter(has_text=REFUND_REQUEST).last
    expect_image_drawn(bubble.get_by_role("img", name=PHOTO))
    expect(bubble).to_contain_text(f"{PHOTO} · {human_size(len(photo))}")
    snap_whole(alice, artifacts, "attachments-customer")

    [thread] = [t for t in shop.desk.list_threads("alice").threads
                if t.title == REFUND_REQUEST]
    [ref] = shop.desk.thread_attachments("alice", thread.thread_id)
    assert (ref.name, ref.content_type, ref.size) == (PHOTO, "image/png", len(photo))
    assert shop.desk.attachment("sam", thread.thread_id, ref.id).data == photo

    sam = shop_page()
    sign_in(sam, SAM)
    expect(main(sam).get_by_role("heading", name="Approvals")).to_be_visible()
    card = (main(sam).get_by_test_id("stVerticalBlock")
            .filter(has_text=f"({thread.thread_id})")
            .filter(has=sam.get_by_role("button", name="Approve", exact=True)).last)
    expect(card).to_contain_text("Files from the customer")
    expect_image_drawn(card.get_by_role("img", name=PHOTO))
    expect(card).to_contain_text(f"[attached {PHOTO} (image/png,")  # the last messages
    snap_whole(sam, artifacts, "attachments-supervisor-card")


def test_a_pdf_is_a_download_under_its_name_shown_as_typed(
        shop: Shop, shop_page: Callable[[], Page], artifacts: Path) -> None:
    """Bob's PDF: a download button with the exact name and size; nothing in it is a link."""
    bob = shop_page()
    sign_in(bob, BOB)
    sidebar(bob).get_by_role("button", name="New conversation").click()
    receipt = pdf_bytes()
    send_with_file(bob, "Here is my receipt", TRICKY_PDF, "application/pdf", receipt)
    bubble = customer_bubbles(bob).filter(has_text="Here is my receipt").last
    download = bubble.get_by_role("button", name=re.compile(r"receipt"))
    expect(download).to_be_visible()
    expect(download).to_have_text(re.compile(re.escape(TRICKY_PDF) + r" \(\d+ bytes\)"))
    assert bubble.locator("a[href], img[src=x], em").count() == 0
    with bob.expect_download() as fetched:
        download.click()
    saved = Path(fetched.value.path())
    assert saved.read_bytes() == receipt
    assert fetched.value.suggested_filename.endswith(".pdf")
    snap_whole(bob, artifacts, "attachments-pdf")


def test_a_refused_file_is_explained_in_place(shop: Shop, shop_page: Callable[[], Page]) -> None:
    """A text file renamed .png is refused by its content, with the reason, and not kept."""
    carol = shop_page()
    sign_in(carol, "Carol Diaz - customer, acme")
    sidebar(carol).get_by_role("button", name="New conversation").click()
    send_with_file(carol, "see the picture", "fake.png", "image/png", b"not a picture at all")
    expect(main(carol).get_by_text("'fake.png' is not a file type we accept")).to_be_visible()
    assert shop.desk.list_threads("carol").threads == []
