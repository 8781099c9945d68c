"""Forking a thread that went through a handoff (issue 9: "history, fork and crash-resume cover
it"). History and crash-resume of the person steps are tested in test_handoff.py and
test_crash_matrix.py; here, on SQLite and PostgreSQL:

- a fork from before the customer asked for a person leaves no handoff behind: the thread is
  the assistant's again, off the supervisors' queue, and the assistant answers;
- a fork from a customer message written while a supervisor had the thread stays with that
  supervisor: the assistant keeps quiet and the queue still shows it with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from agent.service import SupportDesk, collect
from agent.settings import Settings

TRACKING_ORD_1002 = "1Z999AA10123456791"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(request: pytest.FixtureRequest,
         make_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    with SupportDesk.open(make_settings(request.param)) as opened:
        yield opened


def handed_off_and_answered(desk: SupportDesk) -> str:
    """Alice asks for a person, Sam answers, Alice writes to him; the thread."""
    thread = desk.ask("alice", "I'd like to talk to a person, please.").thread_id
    collect(desk.reply_as_staff("sam", thread, "Hi Alice, Sam here"))
    assert desk.ask("alice", "The jacket has not arrived", thread_id=thread).status == "handoff"
    return thread


def fork_point(desk: SupportDesk, thread: str, last_text: str) -> str:
    """The oldest forkable checkpoint whose newest message starts with `last_text`."""
    points = [c for c in desk.history("alice", thread, limit=200) if c.can_fork
              and desk.state_at("alice", thread, c.checkpoint_id).messages[-1].text
              .startswith(last_text)]
    assert points, f"no forkable checkpoint ends with {last_text!r}"
    return points[-1].checkpoint_id


def test_a_fork_from_before_the_handoff_gives_the_thread_back_to_the_assistant(
        desk: SupportDesk) -> None:
    thread = handed_off_and_answered(desk)
    assert [h.thread_id for h in desk.handoffs("sam")] == [thread]
    result = collect(desk.fork("alice", thread, fork_point(desk, thread, "I'd like to talk"),
                               "Where is ORD-1002?"))
    assert result.status == "active" and TRACKING_ORD_1002 in result.reply
    view = desk.view_thread("alice", thread)
    assert view.thread.status == "active" and view.handoff is None
    assert [m.role for m in view.messages if m.role in ("staff", "customer")] == ["customer"]
    assert desk.handoffs("sam") == []
    # The old branch is intact: Sam's reply is still there.
    old = desk.state_at("alice", thread, fork_point(desk, thread, "The jacket"))
    assert any(m.text == "Hi Alice, Sam here" for m in old.messages)
    later = desk.ask("alice", "Where is ORD-1003?", thread_id=thread)
    assert later.status == "active" and "ORD-1003" in later.reply


def test_a_fork_during_the_handoff_stays_with_the_supervisor(desk: SupportDesk) -> None:
    thread = handed_off_and_answered(desk)
    result = collect(desk.fork("alice", thread, fork_point(desk, thread, "The jacket"),
                               "Actually it arrived, thanks"))
    assert (result.status, result.reply) == ("handoff", "")  # the assistant keeps quiet
    view = desk.view_thread("alice", thread)
    assert view.thread.status == "handoff"
    assert (view.handoff.status, view.handoff.person_id) == ("with_person", "sam")
    assert [(m.role, m.author, m.text) for m in view.messages if m.role in ("staff", "customer")
            ][-2:] == [("staff", "Sam Rivera", "Hi Alice, Sam here"),
                       ("customer", None, "Actually it arrived, thanks")]
    assert [(h.thread_id, h.status) for h in desk.handoffs("sam")] == [(thread, "with_person")]
