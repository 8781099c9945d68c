"""Bytes that are not text, and control characters, are refused at the façade on every saver.

Python carries command-line bytes that are not UTF-8 as lone surrogates (surrogateescape);
SQLite cannot encode them and PostgreSQL refuses NUL. Each is refused with a message that says
what was wrong and where, before anything is stored.
"""

from __future__ import annotations

import pytest

from agent.errors import InvalidInput, NotFound

BAD_BYTE = b"hi \xff there".decode("utf-8", "surrogateescape")  # as argv delivers it
BAD_TEXTS = [
    pytest.param(BAD_BYTE, r"is not valid text \(invalid UTF-8 at character 4: byte 0xFF\)",
                 id="invalid-utf8"),
    pytest.param("hi \ud800 there", r"is not valid text \(a lone surrogate U\+D800 at character 4",
                 id="lone-surrogate"),
    pytest.param("hi \x00 there", r"contains a control character \(U\+0000\) at character 4",
                 id="nul"),
    pytest.param("hi \x1b[2J there", r"contains a control character \(U\+001B\) at character 4",
                 id="escape"),
    pytest.param("hi \x9b2J there", r"contains a control character \(U\+009B\) at character 4",
                 id="c1"),
]


def _messages(desk, thread_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in desk.view_thread("alice", thread_id).messages]


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_message_is_refused_and_nothing_is_stored(desk, text, error):
    """On a new thread no thread is created; on an existing one nothing is added to it."""
    thread_id = desk.ask("alice", "list my orders").thread_id
    before = _messages(desk, thread_id)

    with pytest.raises(InvalidInput, match=r"^the message " + error):
        desk.ask("alice", text)
    with pytest.raises(InvalidInput, match=r"^the message " + error):
        desk.ask("alice", text, thread_id=thread_id)
    checkpoint = desk.history("alice", thread_id)[-1].checkpoint_id
    with pytest.raises(InvalidInput, match=r"^the message " + error):
        desk.fork("alice", thread_id, checkpoint, text)

    assert desk.list_threads("alice").total == 1
    assert _messages(desk, thread_id) == before
    assert desk.view_thread("alice", thread_id).thread.status == "active"


def test_tabs_newlines_and_other_unicode_are_kept(desk):
    """Only controls are refused: tab, newline, accents, emoji and CJK pass unchanged."""
    text = "Où est\tma commande ORD-1002?\r\nMerci 🙏 谢谢"
    result = desk.ask("alice", text)
    sent = _messages(desk, result.thread_id)[0]
    assert sent == ("customer", text.replace("\r\n", "\n"))


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_title_is_refused(desk, text, error):
    """Titles are stored and printed like messages, so the same rule holds."""
    thread_id = desk.ask("alice", "hello").thread_id
    with pytest.raises(InvalidInput, match=r"^the title " + error):
        desk.rename_thread("alice", thread_id, text)
    with pytest.raises(InvalidInput, match=r"^the title " + error):
        desk.create_thread("alice", text)
    assert [t.title for t in desk.list_threads("alice").threads] == ["hello"]


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_thread_id_is_refused_everywhere(desk, text, error):
    """Every call that takes a thread id refuses one that is not text, for every role."""
    checkpoint = desk.history("alice", desk.ask("alice", "hello").thread_id)[0].checkpoint_id
    calls = [
        lambda: desk.ask("alice", "hello", thread_id=text),
        lambda: desk.view_thread("alice", text),
        lambda: desk.view_thread("sam", text),
        lambda: desk.history("alice", text),
        lambda: desk.state_at("alice", text, checkpoint),
        lambda: desk.replay("alice", text, checkpoint),
        lambda: desk.fork("alice", text, checkpoint, "hi"),
        lambda: desk.rename_thread("alice", text, "mine"),
        lambda: desk.close_thread("alice", text),
        lambda: desk.delete_thread("alice", text),
        lambda: desk.export_thread("alice", text),
        lambda: desk.resume("alice", text),
        lambda: desk.decide_approval("sam", text, {"action": "approve"}),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match=r"^the thread id " + error):
            call()
    assert desk.list_threads("alice").total == 1


@pytest.mark.parametrize("thread_id", ["nope", "t_" + "0" * 32, "t_" + "A" * 32, "x" * 10_000,
                                       "t_0'; DROP TABLE support_threads; --"])
def test_a_thread_id_of_the_wrong_shape_is_not_found(desk, thread_id):
    """Anything but an id the app could have made is "thread not found", never a traceback."""
    with pytest.raises(NotFound, match=r"^thread not found"):
        desk.view_thread("alice", thread_id)
    with pytest.raises(NotFound, match=r"^thread not found"):
        desk.ask("alice", "hello", thread_id=thread_id)
    with pytest.raises(NotFound, match=r"^thread not found"):
        desk.decide_approval("sam", thread_id, {"action": "approve"})
    assert desk.list_threads("alice").total == 0


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_checkpoint_id_is_refused(desk, text, error):
    """Checkpoint ids from a person (state_at, replay, fork, history --before) are checked too."""
    thread_id = desk.ask("alice", "hello").thread_id
    calls = [
        lambda: desk.state_at("alice", thread_id, text),
        lambda: desk.replay("alice", thread_id, text),
        lambda: desk.fork("alice", thread_id, text, "hi"),
        lambda: desk.history("alice", thread_id, before=text),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match=r"^the checkpoint id " + error):
            call()


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_user_id_is_refused(desk, text, error):
    """A user id is looked up in the database, so it is checked like everything else."""
    with pytest.raises(InvalidInput, match=r"^the user id " + error):
        desk.ask(text, "hello")
    with pytest.raises(InvalidInput, match=r"^the user id " + error):
        desk.list_threads(text)
    thread_id = desk.create_thread("alice").thread_id  # the one-query path for an open thread
    with pytest.raises(InvalidInput, match=r"^the user id " + error):
        desk.ask(text, "hello", thread_id=thread_id)


@pytest.mark.parametrize(("text", "error"), BAD_TEXTS)
def test_bad_text_in_a_supervisor_decision_is_refused_and_the_request_waits(desk, text, error):
    """A rejection's reason and an edited argument reach the database (an address) or the
    customer, so they are checked like a message; the request keeps waiting."""
    thread_id = desk.ask("alice", "Please change the shipping address of ORD-1003 to 1 Main "
                         "St, Springfield").thread_id
    with pytest.raises(InvalidInput, match=r"^the reason " + error):
        desk.decide_approval("sam", thread_id, {"action": "reject", "reason": text})
    with pytest.raises(InvalidInput, match=r"^the new_address " + error):
        desk.decide_approval("sam", thread_id, {"action": "edit",
                                                "arguments": {"new_address": text}})
    [waiting] = desk.pending_approvals("sam")
    assert waiting.thread_id == thread_id
    assert waiting.arguments["new_address"] == "1 Main St, Springfield"
    assert desk.ledger("sam") == []


@pytest.mark.parametrize(("raw", "printed"), [
    ("plain Ünïcode 🙏 谢谢\tand\nlines", "plain Ünïcode 🙏 谢谢\tand\nlines"),
    ("\x1b[31mred\x1b[0m \x9b1mbold", "red bold"),
    ("\x1b]0;window title\x07text \x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\", "text link"),
    ("\x1bPdevice string\x1b\\kept", "kept"),
    ("bell\x07 nul\x00 cr\rX del\x7f", "bell\ufffd nul\ufffd cr\ufffdX del\ufffd"),
    ("lone escape \x1b", "lone escape \ufffd"),
    ("unterminated \x1b]0;title", "unterminated 0;title"),
    ("windows\r\nline", "windows\nline"),
    ("bad byte " + b"\xff".decode("utf-8", "surrogateescape"), "bad byte \ufffd"),
])
def test_for_terminal_removes_sequences_and_shows_other_controls(raw, printed):
    """Escape sequences vanish whole; other controls become U+FFFD; the rest is untouched."""
    from agent.text import for_terminal

    assert for_terminal(raw) == printed
