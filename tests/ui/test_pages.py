"""Every page of the Streamlit UI, driven by AppTest on a real SQLite file.

The app runs as it would under `streamlit run ui/app.py`: navigation by role, the sidebar
status area, the pages. Data is prepared and outcomes are checked through the SupportDesk
façade (the only thing the UI talks to). `other_desk` stands for a second server process
acting on the same database ("elsewhere").

What AppTest cannot drive, and how it is covered instead:
- Fragment reruns: AppTest always reruns the whole script, so a button inside an
  `@st.fragment` runs as part of a full run. The Approvals page then hits a real bug (see
  test_deciding_in_the_inbox_shows_no_exception); the decision's effects are checked anyway.
- A button inside an `@st.dialog`: the dialog only renders in the run that opened it, and
  the click's full rerun does not reopen it, so the confirm-delete button cannot be clicked.
  The dialog's content is checked here; deleting is checked through the façade and by the
  browser tests.
- `st.login` itself (it redirects to the identity provider): the OIDC tests set what
  `st.user` holds instead, as the provider's callback would.
- Dataframe row selection: set through session state under the table's key, which is
  what the browser's selection event writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from agent.service import SupportDesk, collect

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "sign_in": "views/sign_in.py",
    "chat": "views/chat.py",
    "history": "views/history.py",
    "approvals": "views/approvals.py",
}
REFUND = "Please refund ORD-1001, the boots leak"
TRACKING = "1Z999AA10123456791"
OIDC = {"auth": {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "support-agent",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
}}
# What AppTest shows when a button inside a fragment calls st.rerun(scope="fragment") during a
# full run (AppTest has no fragment reruns); see test_deciding_in_the_inbox_shows_no_exception.


# --- helpers ---------------------------------------------------------------------------------


def go(at: AppTest, page: str) -> AppTest:
    """Switch to one of the app's pages and run it."""
    return at.switch_page(PAGES[page]).run()


def offered(at: AppTest, page: str) -> bool:
    """True if the navigation offers the page (AppTest refuses to switch to any other)."""
    try:
        at.switch_page(PAGES[page])
    except ValueError:
        return False
    finally:
        # switch_page only records where the next run goes; this was a question, not a move.
        at._page_hash = ""
    return True


def no_exception(at: AppTest) -> None:
    """Fail with the exception's text if the app showed one."""
    assert not at.exception, [e.value for e in at.exception]


def values(elements) -> list[str]:
    """The text of each element in a list (alerts, markdown, captions, titles...)."""
    return [e.value for e in elements]


def thread_buttons(at: AppTest) -> list:
    """The sidebar's thread buttons, in the order shown."""
    return [b for b in at.sidebar.button if (b.key or "").startswith("thread-")]


def button(at: AppTest, label: str):
    """The one button with this label (in the main area or the sidebar)."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, [b.label for b in at.button]
    return found[0]


def submit(at: AppTest, label: str):
    """The one form submit button with this label."""
    [found] = [b for b in at.form_submit_button if b.label == label]
    return found


def open_thread(at: AppTest, thread_id: str) -> AppTest:
    """Click a thread in the chat sidebar."""
    return at.button(key=f"thread-{thread_id}").click().run()


def message_texts(at: AppTest) -> str:
    """Everything written inside the chat bubbles of the main area, as one string."""
    return "\n".join(m.value for bubble in at.main.chat_message
                     for m in [*bubble.markdown, *bubble.caption])


def drain(stream) -> None:
    """Run a turn (a stream of events) to its end."""
    collect(stream)


# --- sign-in and navigation ------------------------------------------------------------------


def test_signed_out_sees_only_the_sign_in_page(open_app, desk: SupportDesk) -> None:
    """Signed out: the local-mode warning and a picker of every seeded user, no other page."""
    at = open_app()
    no_exception(at)
    assert values(at.title) == ["Support agent"]
    assert any("Local mode" in w for w in values(at.warning))
    picker = at.selectbox(key="sign_in_user")
    assert picker.options == [f"{u.display_name} - {u.role}, {u.tenant}" for u in desk.users()]
    assert {"Alice Martin - customer, acme", "Sam Rivera - supervisor, acme",
            "Gina Novak - supervisor, globex"} <= set(picker.options)
    assert offered(at, "sign_in")
    assert not any(offered(at, page) for page in ("chat", "history", "approvals"))


def test_signing_in_as_a_customer_offers_chat_and_history(open_app) -> None:
    """Picking bob signs in as bob; the navigation offers Chat and History, not Approvals."""
    at = open_app()
    at.selectbox(key="sign_in_user").select("bob")
    at.form_submit_button[0].click().run()
    no_exception(at)
    assert at.session_state["user_id"] == "bob"
    assert values(at.title) == ["New conversation"]  # Chat is the customer's default page
    assert "**Bob Chen**  \ncustomer · acme" in values(at.sidebar.markdown)
    assert offered(at, "chat") and offered(at, "history")
    assert not offered(at, "approvals") and not offered(at, "sign_in")
    assert values(go(at, "history").title) == ["History"]
    no_exception(at)


def test_signing_in_as_a_supervisor_offers_approvals_and_history(open_app) -> None:
    """A supervisor lands on Approvals; Chat is not offered."""
    at = open_app()
    at.selectbox(key="sign_in_user").select("sam")
    at.form_submit_button[0].click().run()
    no_exception(at)
    assert at.session_state["user_id"] == "sam"
    assert values(at.title) == ["Approvals"]
    assert offered(at, "approvals") and offered(at, "history")
    assert not offered(at, "chat")


def test_role_comes_from_the_user_record(open_app) -> None:
    """Only an id lives in the session: a supervisor's id gets the supervisor's pages."""
    at = open_app("gina")
    no_exception(at)
    assert values(at.title) == ["Approvals"]
    assert "**Gina Novak**  \nsupervisor · globex" in values(at.sidebar.markdown)
    assert not offered(at, "chat")


def test_unknown_user_in_the_session_is_signed_out(open_app) -> None:
    """An id with no record (a deleted user, a forged value) shows the sign-in page."""
    at = open_app("mallory")
    no_exception(at)
    assert values(at.title) == ["Support agent"]
    assert "user_id" not in at.session_state
    assert not offered(at, "chat")


def test_sign_out_forgets_the_user(open_app, desk: SupportDesk) -> None:
    """Sign out clears the session: back to the sign-in page, nothing selected."""
    desk.ask("alice", "Where is ORD-1002?")
    at = open_app("alice")
    open_thread(at, desk.list_threads("alice").threads[0].thread_id)
    at.button(key="sign_out").click().run()
    no_exception(at)
    assert values(at.title) == ["Support agent"]
    assert "user_id" not in at.session_state and "thread_id" not in at.session_state


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_oidc_shows_the_provider_sign_in_not_the_picker(open_app) -> None:
    """With SUPPORT_AUTH=oidc (and an [auth] section), the local picker and notices are gone."""
    at = open_app(secrets=OIDC, identity={"is_logged_in": False})
    no_exception(at)
    assert not at.selectbox and not at.form_submit_button
    assert [b.label for b in at.main.button] == ["Sign in"]
    assert not any("Local mode" in w for w in values(at.warning))
    assert not any("Local sign-in mode" in m for m in values(at.sidebar.markdown))


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_oidc_identity_maps_to_the_user_record(open_app) -> None:
    """A provider identity is matched by e-mail; the role comes from the record."""
    at = open_app(secrets=OIDC, identity={"is_logged_in": True, "email": "sam@acme.example.com"})
    no_exception(at)
    assert values(at.title) == ["Approvals"]
    assert "**Sam Rivera**  \nsupervisor · acme" in values(at.sidebar.markdown)
    at = open_app(secrets=OIDC, identity={"is_logged_in": True, "email": "bob@example.com"})
    assert values(at.title) == ["New conversation"]
    assert not offered(at, "approvals")


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_oidc_identity_without_an_account_is_told_so(open_app) -> None:
    """An identity no record matches gets a clear error, not a traceback or a page."""
    at = open_app(secrets=OIDC, identity={"is_logged_in": True, "email": "nobody@example.com"})
    no_exception(at)
    assert any("no support-agent account for 'nobody@example.com'" in e
               for e in values(at.error))
    assert not at.title and [b.label for b in at.button] == ["Try again", "Sign out"]  # no page


@pytest.mark.parametrize("app_env", [{"SUPPORT_AUTH": "oidc"}])
def test_oidc_identity_without_an_account_can_sign_out(open_app) -> None:
    """Someone logged in at the provider but unknown here must be able to sign out."""
    at = open_app(secrets=OIDC, identity={"is_logged_in": True, "email": "nobody@example.com"})
    assert any(b.label == "Sign out" for b in at.button)


def test_fresh_server_routes_a_page_request_through_the_app(desk: SupportDesk) -> None:
    """Control for the xfail below: on a fresh server, a request for the main URL is fine."""
    # No `server_running` fixture: every AppTest run is the first run of a fresh server.
    at = AppTest.from_file(ROOT / "ui" / "app.py", default_timeout=60)
    at.run()
    no_exception(at)
    assert values(at.title) == ["Support agent"]
    assert any("Local sign-in mode" in m for m in values(at.sidebar.markdown))


def test_fresh_server_shows_the_sign_in_page_for_a_page_url(desk: SupportDesk) -> None:
    """A signed-out tab asking a freshly started server for /chat must get the sign-in page."""
    at = AppTest.from_file(ROOT / "ui" / "app.py", default_timeout=60)
    at.session_state["user_id"] = "bob"
    at.run()  # bob was on the Chat page...
    assert values(at.title) == ["New conversation"]
    del at.session_state["user_id"]  # ...the server restarts (sessions are lost)...
    at.query_params.clear()  # ...and the tab's address does not name bob (signed out)...
    at.run()  # ...and the tab asks the fresh server for the page it was on
    no_exception(at)
    assert values(at.title) == ["Support agent"]


# --- status area -----------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [None, "alice", "sam"])
def test_status_area_shows_what_the_instance_runs_on(open_app, db_path: Path,
                                                     user_id: str | None) -> None:
    """The sidebar names the saver, database, locks and model, and warns of local sign-in."""
    at = open_app(user_id)
    no_exception(at)
    status = at.sidebar.expander[0]
    assert status.label == "System status"
    shown = values(status.caption)
    assert "**saver**: sqlite" in shown
    assert f"**database**: {db_path}" in shown
    assert "**locks**: file lock" in shown
    assert "**model**: offline" in shown
    assert "**redis**: not configured" in shown
    assert any("Local sign-in mode" in m for m in values(at.sidebar.markdown))
    assert (at.button(key="sign_out").label == "Sign out") if user_id else not at.sidebar.button


# --- chat ------------------------------------------------------------------------------------


def test_sending_a_message_shows_the_reply_and_a_new_thread(open_app, desk: SupportDesk) -> None:
    """The reply (with tracking) appears, and the sidebar lists the thread, titled by it."""
    at = open_app("alice")
    assert values(at.title) == ["New conversation"]
    assert "No conversations yet." in values(at.sidebar.caption)
    at.chat_input[0].set_value("Where is ORD-1002?").run()
    no_exception(at)
    assert TRACKING in message_texts(at)
    [thread] = desk.list_threads("alice").threads
    assert at.session_state["thread_id"] == thread.thread_id
    assert values(at.subheader) == [r"Where is ORD\-1002?"]  # typed text is shown as typed
    [listed] = thread_buttons(at)
    assert listed.key == f"thread-{thread.thread_id}"
    assert listed.label.startswith("Where is ORD-1002?")
    assert listed.proto.type == "primary"  # the open thread is highlighted


def test_threads_are_listed_newest_first(open_app, desk: SupportDesk) -> None:
    """Most recent activity first; writing in an old thread moves it to the top."""
    ids = [desk.ask("alice", text).thread_id
           for text in ("Where is ORD-1002?", "My name is Alice", "hello")]
    desk.ask("bob", "hello")  # someone else's thread is never listed
    at = open_app("alice")
    assert [b.key for b in thread_buttons(at)] == [f"thread-{t}" for t in reversed(ids)]
    open_thread(at, ids[0])
    at.chat_input[0].set_value("Thanks!").run()
    no_exception(at)
    assert [b.key for b in thread_buttons(at)] == [f"thread-{t}" for t in (ids[0], ids[2], ids[1])]


def test_selecting_a_thread_shows_its_messages(open_app, desk: SupportDesk) -> None:
    """Clicking a thread opens it; New conversation closes it again."""
    first = desk.ask("alice", "Where is ORD-1002?").thread_id
    desk.ask("alice", "My name is Alice")
    at = open_app("alice")
    assert values(at.title) == ["New conversation"]
    open_thread(at, first)
    no_exception(at)
    assert values(at.subheader) == [r"Where is ORD\-1002?"]
    assert TRACKING in message_texts(at)
    assert "My name is Alice" not in message_texts(at)
    assert at.button(key=f"thread-{first}").proto.type == "primary"
    button(at, "New conversation").click().run()
    assert values(at.title) == ["New conversation"] and not at.main.chat_message


def test_rename_a_thread(open_app, desk: SupportDesk) -> None:
    """The Rename popover saves a new title, seen in the header and the sidebar."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    at.text_input(key=f"rename_title-{thread}").set_value("Boots delivery")
    at.button(key=f"rename_save-{thread}").click().run()
    no_exception(at)
    assert desk.view_thread("alice", thread).thread.title == "Boots delivery"
    assert values(at.subheader) == ["Boots delivery"]
    assert thread_buttons(at)[0].label.startswith("Boots delivery")


def test_rename_of_an_empty_title_is_refused_in_place(open_app, desk: SupportDesk) -> None:
    """A blank title gives an error and keeps the old one."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    at.text_input(key=f"rename_title-{thread}").set_value("   ")
    at.button(key=f"rename_save-{thread}").click().run()
    no_exception(at)
    assert "the new title is empty" in values(at.error)
    assert desk.view_thread("alice", thread).thread.title == "Where is ORD-1002?"


def test_rename_box_shows_the_open_threads_title(open_app, desk: SupportDesk) -> None:
    """After switching threads, the Rename box holds the title of the thread now open."""
    first = desk.ask("alice", "Where is ORD-1002?").thread_id
    second = desk.ask("alice", "My name is Alice").thread_id
    at = open_app("alice")
    open_thread(at, first)
    open_thread(at, second)
    assert at.text_input(key=f"rename_title-{second}").value == "My name is Alice"


def test_delete_asks_for_confirmation(open_app, desk: SupportDesk) -> None:
    """Delete opens a dialog naming the thread; nothing is deleted until confirmed."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    [delete] = [b for b in at.main.button if b.label == "Delete"]
    delete.click().run()
    no_exception(at)
    # The dialog is drawn outside the main area. Its confirm button cannot be clicked from
    # AppTest (see the module docstring): the deletion itself is the façade's, tested there.
    [dialog] = at.get("dialog")
    [warning] = values(dialog.markdown)
    assert warning == r"**Where is ORD\-1002?** and all its history will be deleted."
    assert [b.label for b in dialog.button] == ["Delete"]
    assert desk.list_threads("alice").total == 1


def test_empty_input_is_not_sent(open_app, desk: SupportDesk) -> None:
    """An empty message sends nothing; a blank one is refused in place; no thread appears."""
    at = open_app("alice")
    at.chat_input[0].set_value("").run()
    no_exception(at)
    assert not at.main.chat_message and not at.error
    at.chat_input[0].set_value("   \n ").run()
    no_exception(at)
    assert values(at.warning) == ["The message is empty."]
    assert not at.main.chat_message, "no bubble is drawn for a blank message"
    assert desk.list_threads("alice").total == 0


@pytest.mark.parametrize("app_env", [{"SUPPORT_BUSY_POLICY": "fail"}])
def test_error_while_sending_is_shown_in_place_and_nothing_is_lost(
        open_app, desk: SupportDesk, other_desk: SupportDesk) -> None:
    """A busy thread (another tab's turn) gives an error beside the message; all is kept."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    elsewhere = other_desk.send_message("alice", "hello", thread_id=thread)  # holds the thread
    try:
        at.chat_input[0].set_value("My name is Alice").run()
    finally:
        drain(elsewhere)
    no_exception(at)
    assert any("is busy" in e for e in values(at.error))
    assert TRACKING in message_texts(at)  # the conversation is still on screen...
    assert "My name is Alice" in message_texts(at)  # ...and so is what the customer typed
    at.chat_input[0].set_value("My name is Alice").run()  # sending again now works
    no_exception(at)
    said = [m.text for m in desk.view_thread("alice", thread).messages if m.role == "customer"]
    assert said == ["Where is ORD-1002?", "hello", "My name is Alice"]  # once, when it could


@pytest.mark.parametrize("app_env", [{"SUPPORT_MAX_MESSAGE_CHARS": "40"}])
def test_oversized_message_gives_an_error_and_nothing_is_lost(open_app,
                                                              desk: SupportDesk) -> None:
    """Over the limit: an error in place, the whole text kept on screen, nothing stored."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    long_text = "Where is ORD-1002? " + "It was a gift for my sister. " * 3
    at.chat_input[0].set_value(long_text).run()
    no_exception(at)
    assert any("the limit is 40" in e for e in values(at.error))
    assert long_text.strip()[-20:] in message_texts(at).replace("\\", "")
    assert len(desk.view_thread("alice", thread).messages) == 4


def test_refund_waits_for_the_supervisor_then_shows_the_outcome(
        open_app, desk: SupportDesk, other_desk: SupportDesk) -> None:
    """A refund request pauses the chat; once decided elsewhere, the next run shows it."""
    at = open_app("alice")
    at.chat_input[0].set_value(REFUND).run()
    no_exception(at)
    [waiting] = values(at.info)
    assert "Waiting for a supervisor to approve a refund of \\$129\\.00 on ORD\\-1001" in waiting
    assert at.chat_input[0].disabled
    with pytest.raises(AppTestError):  # a browser cannot type into a disabled input either
        at.chat_input[0].set_value("hello?")
    thread = at.session_state["thread_id"]
    assert desk.view_thread("alice", thread).thread.status == "awaiting_approval"

    drain(other_desk.decide_approval("sam", thread, {"action": "approve"}))
    at.run()
    no_exception(at)
    assert not at.info
    assert not at.chat_input[0].disabled
    assert "Refunded $129.00 on ORD-1001" in message_texts(at)
    assert [e["kind"] for e in desk.ledger("alice")] == ["refund"]


def test_thread_deleted_elsewhere_shows_a_notice(open_app, desk: SupportDesk,
                                                 other_desk: SupportDesk) -> None:
    """The open thread vanishing (another tab deleted it) is a warning, not an exception."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    at = open_app("alice")
    open_thread(at, thread)
    other_desk.delete_thread("alice", thread)
    at.run()
    no_exception(at)
    assert any("no longer exists" in w for w in values(at.warning))
    assert at.session_state["thread_id"] is None
    assert not thread_buttons(at)
    at.run()  # and the page then simply starts a new conversation
    assert values(at.title) == ["New conversation"] and not at.warning


def test_thread_pager_moves_through_pages(open_app, desk: SupportDesk) -> None:
    """Over 15 threads: a pager with the range and total; Older and Newer move by a page."""
    ids = [desk.create_thread("alice", f"Question {n}").thread_id for n in range(17)]
    at = open_app("alice")
    assert len(thread_buttons(at)) == 15 and "1-15 of 17" in values(at.sidebar.caption)
    at.button(key="threads-older").click().run()
    no_exception(at)
    assert [b.key for b in thread_buttons(at)] == [f"thread-{t}" for t in ids[1::-1]]
    assert "16-17 of 17" in values(at.sidebar.caption)
    assert at.button(key="threads-older").disabled
    at.button(key="threads-newer").click().run()
    assert len(thread_buttons(at)) == 15


def test_deleting_the_last_threads_page_goes_back_a_page(open_app, desk: SupportDesk,
                                                         other_desk: SupportDesk) -> None:
    """When the page shown empties, the list falls back to a page that has threads."""
    ids = [desk.create_thread("alice", f"Question {n}").thread_id for n in range(16)]
    at = open_app("alice")
    at.button(key="threads-older").click().run()
    assert [b.key for b in thread_buttons(at)] == [f"thread-{ids[0]}"]
    other_desk.delete_thread("alice", ids[0])
    at.run()
    no_exception(at)
    assert len(thread_buttons(at)) == 15


def test_interrupted_thread_can_be_resumed(open_app, desk: SupportDesk, db_path: Path) -> None:
    """A turn killed mid-way (CLI process, SIGKILL after the tools) shows Resume, which ends it."""
    env = {**os.environ, "SUPPORT_SQLITE_PATH": str(db_path), "SUPPORT_CRASH_AT": "after:tools"}
    crashed = subprocess.run([sys.executable, "-m", "agent.cli", "ask", "--user", "alice",
                              "Where is ORD-1002?"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr  # killed at the crash point
    [thread] = desk.list_threads("alice").threads
    at = open_app("alice")
    open_thread(at, thread.thread_id)
    no_exception(at)
    assert any("interrupted before it finished" in w for w in values(at.warning))
    assert TRACKING not in message_texts(at)
    button(at, "Resume").click().run()
    no_exception(at)
    assert not at.warning and not any(b.label == "Resume" for b in at.button)
    assert TRACKING in message_texts(at)
    assert desk.view_thread("alice", thread.thread_id).thread.status == "active"


# --- approvals -------------------------------------------------------------------------------


@pytest.fixture
def refund_request(desk: SupportDesk) -> str:
    """Alice asks for a refund; the thread now waits for a supervisor. Returns its id."""
    result = desk.ask("alice", REFUND)
    assert result.status == "awaiting_approval"
    return result.thread_id


def shown(text: str) -> str:
    """Markdown as the reader sees it: the escapes that keep words inert removed."""
    return re.sub(r"\\(.)", r"\1", text)


def shown_all(elements) -> list[str]:
    """What each element (alert, markdown, caption...) shows."""
    return [shown(e.value) for e in elements]


def card_controls(at: AppTest, interrupt_id: str) -> dict[str, object]:
    """A card's buttons outside forms, by what they do."""
    return {kind: at.button(key=f"{kind}-{interrupt_id}")
            for kind in ("approve", "edit", "respond", "reject")}


def waiting_id(desk: SupportDesk, thread_id: str) -> str:
    """The interrupt id of the request a thread waits on."""
    [pending] = [p for p in desk.pending_approvals("sam") if p.thread_id == thread_id]
    return pending.interrupt_id


def open_card_form(at: AppTest, interrupt_id: str, kind: str) -> AppTest:
    """Click a card's Edit / Reply instead / Reject button: its form opens inside the card."""
    at.button(key=f"{kind}-{interrupt_id}").click().run()
    no_exception(at)
    return at


def card(at: AppTest, interrupt_id: str):
    """The card of one request (its keyed container)."""
    return at.get_by_key(f"approval-{interrupt_id}")


def card_form(at: AppTest, interrupt_id: str, kind: str):
    """The open form of one kind on one request's card (only there, never elsewhere)."""
    [found] = [f for f in card(at, interrupt_id).form if f.key == f"{kind}-form-{interrupt_id}"]
    assert [f.key for f in at.form] == [found.key]
    return found


def form_submit(at: AppTest, interrupt_id: str, kind: str, label: str):
    """The submit button of one card's open form."""
    [found] = [b for b in at.form_submit_button
               if b.label == label and b.form_id == f"{kind}-form-{interrupt_id}"]
    return found


def test_inbox_lists_the_pending_refund(open_app, desk: SupportDesk, refund_request: str) -> None:
    """The card holds what a supervisor decides from; no JSON, no argument names, no forms."""
    at = open_app("sam")
    no_exception(at)
    assert values(at.title) == ["Approvals"]
    text = "\n".join(shown_all([*at.markdown, *at.caption, *at.info, *at.warning]))
    assert "Refund for Alice Martin" in shown(text.replace("**", ""))
    assert refund_request in text
    # What approving does, the full amount said explicitly.
    [effect] = shown_all(at.info)
    assert "Refunds $129.00" in effect and "full amount" in effect
    # The order: number, item, amount, status, placed and delivered, earlier refunds.
    for fact in ("Order ORD-1001", "delivered", "Trail hiking boots", "Order amount: $129.00",
                 "Placed 2 Oct 2026", "Earlier refunds on this order: none"):
        assert fact in text.replace("**", ""), fact
    assert "Policy:" in text and "within 30 days of delivery" in text
    assert f"Customer: {REFUND}" in text  # the last messages
    assert "waiting less than a minute" in text
    assert not at.json
    for raw in ("order_id", "issue_refund", "{"):
        assert raw not in text, raw
    assert [b.label for b in at.main.button if not b.form_id] == [
        "Approve", "Edit, then approve", "Reply instead", "Reject"]
    assert not at.form_submit_button  # forms open inside the card, on demand
    assert not at.warning  # the request is possible as it stands


def test_approve_from_the_inbox_refunds_once(open_app, desk: SupportDesk,
                                             refund_request: str) -> None:
    """Approve decides it: one refund in the ledger, the supervisor is told what happened."""
    at = open_app("sam")
    button(at, "Approve").click().run()
    no_exception(at)
    assert [(e["kind"], e["amount_cents"]) for e in desk.ledger("sam")] == [("refund", 12900)]
    at.run()
    no_exception(at)
    [notice, empty] = shown_all(at.success)
    assert notice.startswith("Approved Alice Martin's refund: Refunded $129.00 on ORD-1001")
    assert empty == "Nothing is waiting for approval."
    assert desk.view_thread("alice", refund_request).thread.status == "active"


def test_deciding_in_the_inbox_shows_no_exception(open_app, refund_request: str) -> None:
    """Clicking Approve must not end in a traceback, whatever kind of run handles it."""
    at = open_app("sam")
    button(at, "Approve").click().run()
    no_exception(at)


def test_request_decided_before_the_click_is_gone(
        open_app, desk: SupportDesk, other_desk: SupportDesk, refund_request: str) -> None:
    """Decided elsewhere after the page showed it: the click finds nothing; one refund."""
    at = open_app("sam")
    approve = button(at, "Approve")
    drain(other_desk.decide_approval("sam", refund_request, {"action": "approve"}))
    # The click's rerun lists what waits now, so the card (and the click) are gone: no second
    # decision is attempted, and the page says why the request disappeared.
    approve.click().run()
    no_exception(at)
    assert values(at.success) == ["Nothing is waiting for approval."]
    assert shown_all(at.info) == ["Decided elsewhere in the meantime: Alice Martin's refund on "
                                  "ORD-1001. Nothing was decided twice."]
    assert not at.warning and not at.error
    assert len(desk.ledger("sam")) == 1


def test_other_tenants_supervisor_sees_nothing(open_app, refund_request: str) -> None:
    """gina (globex) is not shown acme's request."""
    at = open_app("gina")
    no_exception(at)
    assert values(at.success) == ["Nothing is waiting for approval."]
    assert not any(b.label == "Approve" for b in at.button)


def test_reject_with_a_reason(open_app, desk: SupportDesk, refund_request: str) -> None:
    """The card's Reject form sends the reason; no refund; the customer reads why."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "reject")
    at.text_area(key=f"reject-reason-{interrupt_id}").set_value("The boots were worn for a year")
    form_submit(at, interrupt_id, "reject", "Reject with this reason").click().run()
    no_exception(at)
    assert desk.ledger("sam") == []
    last = desk.view_thread("alice", refund_request).messages
    assert any("The boots were worn for a year" in m.text for m in last)
    at.run()
    no_exception(at)
    assert shown_all(at.info) == [
        "Rejected Alice Martin's refund on ORD-1001. The customer was told the reason: "
        "“The boots were worn for a year”."]


def test_reject_without_a_reason_is_refused_in_the_form(open_app, desk: SupportDesk,
                                                        refund_request: str) -> None:
    """An empty reason never reaches the desk: the form says why and stays open."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "reject")
    at.text_area(key=f"reject-reason-{interrupt_id}").set_value("   ")
    form_submit(at, interrupt_id, "reject", "Reject with this reason").click().run()
    no_exception(at)
    [problem] = shown_all(card_form(at, interrupt_id, "reject").error)
    assert problem.startswith("Write the reason the customer will read: nothing was sent")
    assert len(at.error) == 1
    assert desk.view_thread("alice", refund_request).thread.status == "awaiting_approval"
    assert waiting_id(desk, refund_request) == interrupt_id
    at.run()  # the inbox refreshing by itself keeps the form and what it says
    assert shown_all(card_form(at, interrupt_id, "reject").error) == [problem]


def edit_fields(at: AppTest, interrupt_id: str) -> dict:
    """The card's edit form fields, by label."""
    prefix = f"edit-{interrupt_id}-"
    return {w.label: w for w in [*at.number_input, *at.text_input, *at.text_area]
            if (w.key or "").startswith(prefix)}


def test_edit_then_approve(open_app, desk: SupportDesk, refund_request: str) -> None:
    """The edit form shows typed fields with people's labels; only the changes are sent."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    assert not edit_fields(at, interrupt_id)  # closed until asked for
    open_card_form(at, interrupt_id, "edit")
    fields = edit_fields(at, interrupt_id)
    # Never the order (changing it is how the wrong customer gets refunded), never a raw name.
    assert {label: f.value for label, f in fields.items()} == {
        "Amount to refund (at most $129.00)": 129.0, "Reason": "the boots leak"}
    amount = fields["Amount to refund (at most $129.00)"]
    assert amount.min == 0.01  # the maximum is checked on submit (see the next tests)
    fields["Reason"].set_value("Leaking boots, approved by Sam")
    form_submit(at, interrupt_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    # The amount was left at the full amount: the refund is still "everything left".
    [entry] = desk.ledger("sam")
    assert (entry["amount_cents"], entry["details"]) == (
        12900, {"reason": "Leaking boots, approved by Sam"})
    at.run()
    no_exception(at)
    [notice, _] = shown_all(at.success)
    assert notice.startswith("Approved Alice Martin's refund with your changes: ")
    assert "Refunded $129.00 on ORD-1001" in notice


def test_cancel_closes_the_form_and_forgets_the_edit(open_app, desk: SupportDesk,
                                                     refund_request: str) -> None:
    """Cancel sends nothing; the form opened again starts from the request as it stands."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "edit")
    edit_fields(at, interrupt_id)["Amount to refund (at most $129.00)"].set_value(20.0)
    form_submit(at, interrupt_id, "edit", "Cancel").click().run()
    no_exception(at)
    assert not at.form and not edit_fields(at, interrupt_id)
    open_card_form(at, interrupt_id, "edit")
    assert edit_fields(at, interrupt_id)["Amount to refund (at most $129.00)"].value == 129.0
    # Another of the card's buttons swaps its form: one form per card at a time.
    open_card_form(at, interrupt_id, "reject")
    assert [f.key for f in at.form] == [f"reject-form-{interrupt_id}"]
    assert desk.ledger("sam") == [] and waiting_id(desk, refund_request) == interrupt_id


def test_edit_lowers_the_amount_to_a_partial_refund(open_app, desk: SupportDesk,
                                                    refund_request: str) -> None:
    """A supervisor turns a full refund into a partial one in the amount field."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "edit")
    edit_fields(at, interrupt_id)["Amount to refund (at most $129.00)"].set_value(20.0)
    form_submit(at, interrupt_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    [entry] = desk.ledger("sam")
    assert (entry["kind"], entry["amount_cents"]) == ("refund", 2000)


def test_edit_above_the_maximum_is_refused_in_the_form(open_app, desk: SupportDesk,
                                                       refund_request: str) -> None:
    """More than is refundable never reaches the desk (the browser refuses it too)."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "edit")
    edit_fields(at, interrupt_id)["Amount to refund (at most $129.00)"].set_value(500.0)
    form_submit(at, interrupt_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    [problem] = shown_all(card_form(at, interrupt_id, "edit").error)
    assert problem.startswith("Amount to refund: at most $129.00")
    assert desk.ledger("sam") == []
    assert waiting_id(desk, refund_request) == interrupt_id


def test_edit_with_a_bad_value_keeps_the_request_waiting(open_app, desk: SupportDesk,
                                                         refund_request: str) -> None:
    """A value the desk refuses is reported in the card's open form; the request still waits."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "edit")
    edit_fields(at, interrupt_id)["Reason"].set_value("x" * 600)
    form_submit(at, interrupt_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    at.run()
    no_exception(at)
    [problem] = shown_all(card_form(at, interrupt_id, "edit").error)
    # The desk's words, with the field as the form labels it and no tool name.
    assert "Reason: String should have at most 500 characters" in problem
    assert "issue_refund" not in problem and "reason:" not in problem
    assert len(at.error) == 1
    assert not at.warning and not at.success  # nothing at the top of the page
    assert desk.ledger("sam") == []
    assert waiting_id(desk, refund_request) == interrupt_id
    assert edit_fields(at, interrupt_id)["Reason"].value == "x" * 600  # as entered


def test_every_form_stays_on_its_own_card(open_app, desk: SupportDesk,
                                          refund_request: str) -> None:
    """A refused edit on the second card leaves the form there; the valid one refunds Bob."""
    bob_thread = desk.ask("bob", "Please refund ORD-1101, it tore").thread_id
    alice_id, bob_id = waiting_id(desk, refund_request), waiting_id(desk, bob_thread)
    at = open_app("sam")
    open_card_form(at, bob_id, "edit")
    edit_fields(at, bob_id)["Reason"].set_value("x" * 600)
    form_submit(at, bob_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    assert not edit_fields(at, alice_id)
    assert not card(at, alice_id).form and not card(at, alice_id).error
    [problem] = card_form(at, bob_id, "edit").error
    assert "at most 500 characters" in problem.value
    fields = edit_fields(at, bob_id)
    fields["Reason"].set_value("Torn strap")
    fields["Amount to refund (at most $89.00)"].set_value(7.0)
    form_submit(at, bob_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    assert [(e["order_id"], e["amount_cents"], e["thread_id"]) for e in desk.ledger("sam")] \
        == [("ORD-1101", 700, bob_thread)]
    assert waiting_id(desk, refund_request) == alice_id


def test_an_action_that_fails_after_approval_is_not_a_success(
        open_app, desk: SupportDesk, other_desk: SupportDesk, refund_request: str) -> None:
    """The order changed after the card was drawn: the approval's failure is said as one."""
    second = desk.ask("alice", "Please refund ORD-1001, they leak again").thread_id
    at = open_app("sam")
    drain(other_desk.decide_approval("sam", refund_request, {"action": "approve"}))
    at.button(key=f"approve-{waiting_id(desk, second)}").click().run()
    no_exception(at)
    at.run()
    no_exception(at)
    [failure] = shown_all(at.error)
    assert failure.startswith("Approved Alice Martin's refund on ORD-1001, but it failed: ")
    assert "refunded in full already" in failure and "Nothing was changed" in failure
    assert not any(s.startswith("Approved") for s in shown_all(at.success))
    assert [e["thread_id"] for e in desk.ledger("sam")] == [refund_request]


def test_address_change_card_says_where_it_ships_now(open_app, desk: SupportDesk) -> None:
    """An address change shows the current address, the new one, and a typed edit field."""
    thread = desk.ask("alice", "Please change the address of ORD-1003 to 5 Elm St").thread_id
    at = open_app("sam")
    interrupt_id = waiting_id(desk, thread)
    text = "\n".join(shown_all([*card(at, interrupt_id).markdown, *card(at, interrupt_id).info]))
    assert "Ships ORD-1003 to 5 Elm St instead of 12 Elm Street, Springfield" in text
    assert "Ships to: 12 Elm Street, Springfield" in text
    assert "Two-person tent" in text and "processing" in text
    open_card_form(at, interrupt_id, "edit")
    fields = edit_fields(at, interrupt_id)
    assert {label: f.value for label, f in fields.items()} == {"New shipping address": "5 Elm St"}
    fields["New shipping address"].set_value("7 Oak Rd, Springfield")
    form_submit(at, interrupt_id, "edit", "Approve with these changes").click().run()
    no_exception(at)
    [entry] = desk.ledger("sam")
    assert entry["kind"] == "address_change"
    assert "7 Oak Rd, Springfield" in json.dumps(entry["details"])


def test_reply_instead_needs_a_message_and_carries_nothing_out(
        open_app, desk: SupportDesk, refund_request: str) -> None:
    """Reply instead: an empty reply is refused in the form; a reply reaches the customer."""
    at = open_app("sam")
    interrupt_id = waiting_id(desk, refund_request)
    open_card_form(at, interrupt_id, "respond")
    form_submit(at, interrupt_id, "respond", "Send reply instead").click().run()
    no_exception(at)
    [problem] = shown_all(card_form(at, interrupt_id, "respond").error)
    assert problem.startswith("Write the reply the customer will read: nothing was sent")
    at.text_area(key=f"respond-text-{interrupt_id}").set_value(
        "Hi Alice, could you send a photo of the leak first?")
    form_submit(at, interrupt_id, "respond", "Send reply instead").click().run()
    no_exception(at)
    assert desk.ledger("sam") == []
    messages = desk.view_thread("alice", refund_request).messages
    [reply] = [m for m in messages if m.role == "staff"]
    assert (reply.text, reply.author) == ("Hi Alice, could you send a photo of the leak first?",
                                          "Sam Rivera")
    at.run()
    no_exception(at)
    assert shown_all(at.info)[0].startswith("Replied to Alice Martin instead: the refund on "
                                            "ORD-1001 was not carried out.")
    assert values(at.success) == ["Nothing is waiting for approval."]


# --- history ---------------------------------------------------------------------------------


@pytest.fixture
def long_thread(desk: SupportDesk) -> str:
    """A thread of alice's with more than one page (20) of checkpoints."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    for text in ("My name is Alice", "hello", "Thanks!", "list my orders"):
        desk.ask("alice", text, thread_id=thread)
    assert len(desk.export_thread("alice", thread)["checkpoints"]) > 20
    return thread


def timeline(at: AppTest):
    """The history page's checkpoint table (a DataFrame)."""
    [table] = at.dataframe
    return table.value


def select_checkpoint(at: AppTest, row: int) -> AppTest:
    """Select a timeline row as the browser does: the table's selection state, then a rerun."""
    [table] = at.dataframe
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": []}}
    return at.run()


def test_history_shows_the_timeline_newest_first(open_app, desk: SupportDesk,
                                                 long_thread: str) -> None:
    """One page of checkpoints, newest first, with the head on top and a download button."""
    at = go(open_app("alice"), "history")
    no_exception(at)
    assert at.selectbox(key="history_pick").value == long_thread
    rows = timeline(at)
    newest = desk.history("alice", long_thread, limit=20)
    assert list(rows["checkpoint"]) == [c.checkpoint_id for c in newest]
    # A customer's table has no step column: the page order is the façade's, newest first.
    assert [c.step for c in newest] == sorted((c.step for c in newest), reverse=True)
    assert list(rows["when"]) == sorted(rows["when"], reverse=True)
    assert set(rows["branch"]) == {"current"}
    assert [d.label for d in at.download_button] == ["Download history (JSON)"]
    # The head checkpoint's id is for supervisors (test_supervisor_reads_tenant_history...).
    assert not any("head checkpoint" in c for c in values(at.caption))
    assert "Select a step to see the conversation at that point." in values(at.caption)


def test_history_pages_older_and_newer(open_app, desk: SupportDesk, long_thread: str) -> None:
    """Older shows the next page of checkpoints; Newer goes back."""
    at = go(open_app("alice"), "history")
    first = list(timeline(at)["checkpoint"])
    assert button(at, "Newer").disabled and not button(at, "Older").disabled
    button(at, "Older").click().run()
    no_exception(at)
    assert any("page 2" in c for c in values(at.caption))
    second = list(timeline(at)["checkpoint"])
    everything = [c["checkpoint_id"] for c in
                  reversed(desk.export_thread("alice", long_thread)["checkpoints"])]
    assert first + second == everything[:len(first) + len(second)]
    assert button(at, "Older").disabled  # this thread has fewer than 40 checkpoints
    button(at, "Newer").click().run()
    assert list(timeline(at)["checkpoint"]) == first
    assert any("page 1" in c for c in values(at.caption))


def test_selecting_a_checkpoint_shows_its_state(open_app, long_thread: str) -> None:
    """The state at a checkpoint: its messages, summary and changes (raw values: supervisors)."""
    at = select_checkpoint(go(open_app("alice"), "history"), 0)
    no_exception(at)
    assert [t.label for t in at.tabs] == ["Messages", "Summary", "Changes"]
    # A customer's header: the date and time, and what the step did in words.
    assert any(re.match(r"^\*\*\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\*\* · The assistant replied$", m)
               for m in values(at.markdown)), values(at.markdown)
    assert TRACKING in message_texts(at)


def test_fork_from_a_checkpoint_makes_a_second_branch(open_app, desk: SupportDesk,
                                                      long_thread: str) -> None:
    """Fork with an edited message: the checkpoint before it gets a second child."""
    at = go(open_app("alice"), "history")
    infos = desk.history("alice", long_thread, limit=20)
    row = next(i for i, info in enumerate(infos) if info.can_fork)
    select_checkpoint(at, row)
    [text] = at.text_area
    text.set_value("Where is ORD-1002?")
    [fork] = at.form_submit_button
    assert fork.label == "Fork with this message"
    fork.click().run()
    no_exception(at)
    assert any(s.startswith("New branch written.") for s in values(at.success))
    children = Counter(c["parent_id"] for c in
                       desk.export_thread("alice", long_thread)["checkpoints"])
    assert max(children.values()) == 2
    view = desk.view_thread("alice", long_thread)
    assert TRACKING in view.messages[-1].text  # the new branch is now the thread's head


def test_replay_from_a_checkpoint(open_app, desk: SupportDesk, long_thread: str) -> None:
    """Replay runs again from a checkpoint with work to do; it too writes a branch."""
    at = go(open_app("alice"), "history")
    infos = desk.history("alice", long_thread, limit=20)
    row = next(i for i, info in enumerate(infos) if info.next_nodes and i > 0)
    select_checkpoint(at, row)
    replay = at.button(key="replay")
    assert not replay.disabled
    replay.click().run()
    no_exception(at)
    assert any(s.startswith("New branch written.") for s in values(at.success))
    children = Counter(c["parent_id"] for c in
                       desk.export_thread("alice", long_thread)["checkpoints"])
    assert max(children.values()) == 2


def test_supervisor_reads_tenant_history_read_only(open_app, desk: SupportDesk,
                                                   long_thread: str) -> None:
    """sam sees alice's thread and its states, without Replay or Fork."""
    desk.ask("dave", "hello")  # another tenant's thread is never offered
    at = go(open_app("sam"), "history")
    no_exception(at)
    picker = at.selectbox(key="history_pick")
    assert picker.options == [o for o in picker.options if ", alice)" in o]
    assert picker.value == long_thread
    newest = desk.history("sam", long_thread, limit=1)[0]
    assert any(f"head checkpoint {newest.checkpoint_id}" in c for c in values(at.caption))
    assert "Select a checkpoint to see the state at that point." in values(at.caption)
    select_checkpoint(at, 0)
    no_exception(at)
    assert [t.label for t in at.tabs] == ["Messages", "Summary", "Changes", "Raw values"]
    assert any(m.startswith(f"Step {newest.step} · ") for m in values(at.markdown))
    assert "Supervisors read history; only the customer can replay or fork it." in \
        values(at.caption)
    assert not any(b.label in ("Replay", "Fork with this message")
                   for b in [*at.button, *at.form_submit_button])


def test_history_of_a_thread_deleted_elsewhere(open_app, desk: SupportDesk,
                                              other_desk: SupportDesk) -> None:
    """The shown thread vanishing is an error, not an exception; another can be picked."""
    kept = desk.ask("alice", "Where is ORD-1002?").thread_id
    gone = desk.ask("alice", "hello").thread_id
    at = go(open_app("alice"), "history")
    assert at.selectbox(key="history_pick").value == gone
    other_desk.delete_thread("alice", gone)
    at.run()
    no_exception(at)
    assert values(at.error) == ["thread not found"]
    at.selectbox(key="history_pick").select(kept).run()
    no_exception(at)
    assert not at.error and len(timeline(at)) > 0


def test_history_without_threads_says_so(open_app) -> None:
    """A customer with no conversation yet is pointed to the Chat page."""
    at = go(open_app("bob"), "history")
    no_exception(at)
    assert any("No conversations yet" in i for i in values(at.info))


# --- errors ----------------------------------------------------------------------------------


def test_database_that_cannot_open_shows_an_error_and_try_again(
        db_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database path under a file: a clear error and Try again, which recovers once fixed."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    monkeypatch.setenv("SUPPORT_SQLITE_PATH", str(blocker / "support.db"))
    from ui.session import get_desk

    get_desk.clear()
    at = AppTest.from_file(ROOT / "ui" / "app.py", default_timeout=60)
    try:
        at.run()
        no_exception(at)
        [error] = values(at.error)
        assert error.startswith("The support desk cannot start:")
        assert "SUPPORT_SQLITE_PATH" in error
        assert [b.label for b in at.button] == ["Try again"]
        monkeypatch.setenv("SUPPORT_SQLITE_PATH", str(db_path))  # the operator fixes it
        button(at, "Try again").click().run()
        no_exception(at)
        assert values(at.title) == ["Support agent"] and not at.error
    finally:
        if at.title and values(at.title) == ["Support agent"] and not at.error:
            get_desk().close()  # the desk the app opened after the fix
        get_desk.clear()
