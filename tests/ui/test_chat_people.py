"""Customers and supervisors talking through the app (AppTest, on a real SQLite file).

A person's messages are marked as theirs, the customer never sees a tool's name, the
Conversations page keeps the conversation a supervisor picked, and the signed-in user stays in
the address across pages (so a reload or an app restart keeps them signed in). What needs a
live browser (pages updating by themselves, a restart) is in tests/e2e/test_handoff_browser.py.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk, collect
from agent.tools import registry

CONVERSATIONS = "views/conversations.py"
PICKED = "conversation_picked"  # the Conversations page's selectbox key


def bubble_texts(at: AppTest, name: str) -> list[str]:
    """The text of each chat bubble of one author ("user", "assistant", "staff")."""
    return ["\n".join(m.value for m in [*bubble.markdown, *bubble.caption])
            for bubble in at.main.chat_message if bubble.name == name]


def everything_shown(at: AppTest) -> str:
    """All the text of the main area a person reads (markdown, captions, alerts, titles)."""
    parts = [*at.main.markdown, *at.main.caption, *at.main.info, *at.main.warning,
             *at.main.title, *at.main.subheader]
    return "\n".join(str(part.value) for part in parts)


def ask_for_person(desk: SupportDesk, customer: str, words: str) -> str:
    """The customer asks for a person; return the thread."""
    return collect(desk.send_message(customer, words)).thread_id


def open_conversations(open_app, user: str = "sam", thread: str | None = None) -> AppTest:
    """A supervisor on the Conversations page, optionally arriving with ?thread= in the URL."""
    at = open_app(user)
    if thread:
        at.query_params["thread"] = thread
    return at.switch_page(CONVERSATIONS).run()


def test_customer_sees_the_person_marked_and_no_tool_names(open_app, desk: SupportDesk) -> None:
    """Sam's message is in a bubble of its own with his name; tools show as words."""
    thread = ask_for_person(desk, "alice", "Where is ORD-1002?")
    collect(desk.send_message("alice", "Can I talk to a person please?", thread_id=thread))
    collect(desk.reply_as_staff("sam", thread, "Hi Alice, Sam here"))

    at = open_app("alice")
    at = at.button(key=f"thread-{thread}").click().run()
    assert not at.exception
    [staff] = bubble_texts(at, "staff")
    assert "Sam Rivera" in staff and "support team" in staff and "Hi Alice, Sam here" in staff
    shown = everything_shown(at)
    assert "Checking order ORD\\-1002" in shown  # markdown-escaped, as shown
    assert [name for name in registry.names() if name in shown] == []
    assert "{" not in shown
    assert "Sam Rivera** from our support team is handling" in shown


def test_customer_writing_to_a_person_gets_no_assistant_reply(open_app,
                                                              desk: SupportDesk) -> None:
    """While a person handles the thread, the customer's message waits for them."""
    thread = ask_for_person(desk, "alice", "Can I talk to a person please?")
    at = open_app("alice")
    at = at.button(key=f"thread-{thread}").click().run()
    assert "A member of our support team has been asked to join" in everything_shown(at)
    assert not [b for b in at.main.button if b.label == "Talk to a person"]
    replies_before = len(bubble_texts(at, "assistant"))

    at.chat_input[0].set_value("My jacket has not arrived").run()
    assert not at.exception
    assert bubble_texts(at, "user")[-1] == "My jacket has not arrived"
    assert len(bubble_texts(at, "assistant")) == replies_before
    view = desk.view_thread("alice", thread)
    assert view.thread.status == "handoff"
    assert [m.role for m in view.messages][-1] == "customer"


def test_conversations_opens_the_thread_in_the_address(open_app, desk: SupportDesk) -> None:
    """Arriving with ?thread= (the queue's button, a link, a reload) opens that thread."""
    alice = ask_for_person(desk, "alice", "Can I talk to a person please?")
    bob = ask_for_person(desk, "bob", "I want to speak to a human")
    for thread, title in ((alice, "Can I talk to a person please?"),
                          (bob, "I want to speak to a human")):
        at = open_conversations(open_app, thread=thread)
        assert not at.exception
        assert at.selectbox(key=PICKED).value == thread
        assert [s.value for s in at.main.subheader] == [title]
        assert at.query_params["thread"] == thread


def test_conversations_keeps_the_thread_picked_in_the_box(open_app, desk: SupportDesk) -> None:
    """A thread picked in the box stays open, though the address named another one before."""
    alice = ask_for_person(desk, "alice", "Can I talk to a person please?")
    bob = ask_for_person(desk, "bob", "I want to speak to a human")
    at = open_conversations(open_app, thread=alice)
    assert at.selectbox(key=PICKED).value == alice

    at = at.selectbox(key=PICKED).select(bob).run()
    assert at.selectbox(key=PICKED).value == bob
    assert [s.value for s in at.main.subheader] == ["I want to speak to a human"]
    assert at.query_params["thread"] == bob
    at = at.run()  # any later run (a reply, a toggle) keeps it
    assert at.selectbox(key=PICKED).value == bob
    assert [s.value for s in at.main.subheader] == ["I want to speak to a human"]


def test_conversation_labels_name_the_customer_and_tell_twins_apart(
        open_app, desk: SupportDesk) -> None:
    """Labels read "Customer name: title"; two threads alike get their ids' ends."""
    first = ask_for_person(desk, "alice", "Can I talk to a person please?")
    second = ask_for_person(desk, "alice", "Can I talk to a person please?")
    collect(desk.send_message("bob", "Where is ORD-1101?"))
    at = open_conversations(open_app)
    labels = at.selectbox(key=PICKED).options
    # Threads asking for a person first (the one waiting longest on top), then the others.
    assert labels == [f"Alice Martin: Can I talk to a person please? · #{first[-6:]}",
                      f"Alice Martin: Can I talk to a person please? · #{second[-6:]}",
                      "Bob Chen: Where is ORD-1101?"]


def test_signed_in_user_stays_in_the_address_on_another_page(open_app,
                                                             desk: SupportDesk) -> None:
    """Moving to another page empties the query; the app puts the user back in it."""
    at = open_app("sam")
    at.query_params.clear()  # what the browser sends after a move to another page
    at = at.switch_page(CONVERSATIONS).run()
    assert not at.exception
    assert at.query_params["as"] == "sam"
