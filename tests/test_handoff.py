"""Handoff to a person: asked for, answered in the supervisor's name, handed back, all checkpointed.

Driven through the SupportDesk on every saver (the graph does the routing), plus the graph on
its own for the routing rule, and the OpenAI-compatible path for what the model is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.openai_server import MODEL_ID, OpenAICompatibleServer

from agent.core.handoff import HAND_BACK_NOTE
from agent.errors import InvalidInput, NotAllowed, NotFound
from agent.service import SupportDesk, collect
from agent.settings import Settings
from agent.tools.handoff import HANDED_OFF

ASK_FOR_PERSON = "Can I talk to a person please?"
TRACKING = "1Z999AA10123456791"


def ask_for_person(desk: SupportDesk, user: str = "alice") -> str:
    """A thread whose customer asked for a person; its id."""
    result = desk.ask(user, ASK_FOR_PERSON)
    assert result.status == "handoff" and result.reply == HANDED_OFF
    return result.thread_id


def actions(desk: SupportDesk, supervisor: str = "sam") -> list[tuple[str, str, str]]:
    """(action, actor, customer) of the audit trail, oldest first."""
    return [(e.action, e.actor_id, e.customer_id)
            for e in reversed(desk.audit_trail(supervisor))]


def test_handoff_round_trip(desk: SupportDesk) -> None:
    """Ask -> queued -> the customer writes (no assistant reply) -> Sam answers in his name ->
    hands back -> the assistant answers the next message."""
    thread = ask_for_person(desk)
    [queued] = desk.handoffs("sam")
    assert (queued.thread_id, queued.status, queued.customer_name) == (thread, "waiting",
                                                                       "Alice Martin")
    assert desk.handoffs("gina") == []  # another tenant's supervisor sees nothing

    waiting = desk.ask("alice", "My boots leak, I want to talk it through", thread_id=thread)
    assert (waiting.status, waiting.reply) == ("handoff", "")  # the assistant stays quiet
    view = desk.view_thread("alice", thread)
    assert [m.role for m in view.messages][-2:] == ["assistant", "customer"]

    reply = collect(desk.reply_as_staff("sam", thread, "Hi Alice, Sam here. Sorry about that!"))
    assert reply.status == "handoff"
    view = desk.view_thread("alice", thread)
    last = view.messages[-1]
    assert (last.role, last.author, last.text) == ("staff", "Sam Rivera",
                                                   "Hi Alice, Sam here. Sorry about that!")
    assert (view.handoff.status, view.handoff.person_id) == ("with_person", "sam")
    [queued] = desk.handoffs("sam")
    assert queued.person_name == "Sam Rivera"

    back = collect(desk.hand_back("sam", thread))
    assert back.status == "active" and desk.handoffs("sam") == []
    view = desk.view_thread("alice", thread)
    assert (view.messages[-1].role, view.messages[-1].text) == ("staff", HAND_BACK_NOTE)
    assert view.handoff is None

    answer = desk.ask("alice", "Where is ORD-1002?", thread_id=thread)
    assert answer.status == "active" and TRACKING in answer.reply

    assert actions(desk) == [("handoff", "alice", "alice"), ("reply", "sam", "alice"),
                             ("hand_back", "sam", "alice")]
    # Every step is a checkpoint written by the graph: the person steps are in the history.
    writers = [info.written_by for info in desk.history("alice", thread, limit=50)]
    assert ("person",) in writers


def test_supervisor_can_step_in_on_any_thread_of_their_tenant(desk: SupportDesk) -> None:
    """No request needed: Sam writes in an ordinary thread and it becomes his."""
    thread = desk.ask("bob", "Where is ORD-1101?").thread_id
    collect(desk.reply_as_staff("sam", thread, "Bob, your daypack has arrived, all good?"))
    assert desk.view_thread("bob", thread).thread.status == "handoff"
    assert desk.ask("bob", "Yes thanks", thread_id=thread).reply == ""


def test_who_may_write_in_a_thread(desk: SupportDesk) -> None:
    """Only a supervisor of the thread's tenant; a hand-back needs a handoff; text is checked."""
    thread = ask_for_person(desk)
    with pytest.raises(NotAllowed):
        desk.reply_as_staff("alice", thread, "I am Sam")
    with pytest.raises(NotFound):
        desk.reply_as_staff("gina", thread, "hello from globex")
    with pytest.raises(InvalidInput):
        desk.reply_as_staff("sam", thread, "   ")
    with pytest.raises(InvalidInput):
        desk.reply_as_staff("sam", thread, "bad\x00byte")
    collect(desk.hand_back("sam", thread))
    with pytest.raises(InvalidInput, match="nothing to hand back"):
        desk.hand_back("sam", thread)
    assert [m.role for m in desk.view_thread("alice", thread).messages].count("staff") == 1


def test_respond_instead_of_deciding(desk: SupportDesk) -> None:
    """The refund is not done, Sam's message is in the thread, and the thread is his."""
    request = desk.ask("bob", "Please refund ORD-1101, it tore")
    assert request.status == "awaiting_approval"
    with pytest.raises(InvalidInput, match="decide it"):
        desk.reply_as_staff("sam", request.thread_id, "hi")
    with pytest.raises(InvalidInput, match="message"):
        desk.decide_approval("sam", request.thread_id, {"action": "respond"})
    outcome = collect(desk.decide_approval(
        "sam", request.thread_id, {"action": "respond", "message": "Bob, please send a photo."}))
    assert outcome.status == "handoff"
    assert desk.shop.ledger(order_id="ORD-1101") == []
    view = desk.view_thread("bob", request.thread_id)
    tool, staff = view.messages[-2:]
    assert tool.role == "tool" and not tool.ok
    assert (staff.role, staff.author, staff.text) == ("staff", "Sam Rivera",
                                                      "Bob, please send a photo.")
    [row] = desk.audit_trail("sam", actions=("respond",))
    assert (row.actor_id, row.customer_id, row.tool, row.reason) == (
        "sam", "bob", "issue_refund", "Bob, please send a photo.")
    assert row.before == {"order_id": "ORD-1101", "reason": "it tore"}


@pytest.mark.parametrize("durable", [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def test_handoff_survives_reopening_the_desk(durable: str,
                                             make_settings: Callable[..., Settings]) -> None:
    """An app restart in the middle: the queue, the messages and the hand-back still work."""
    settings = make_settings(durable)
    with SupportDesk.open(settings) as first:
        thread = ask_for_person(first)
        collect(first.reply_as_staff("sam", thread, "Sam here."))
    with SupportDesk.open(settings) as second:
        assert [h.thread_id for h in second.handoffs("sam")] == [thread]
        assert second.ask("alice", "Still there?", thread_id=thread).reply == ""
        collect(second.hand_back("sam", thread))
        assert TRACKING in second.ask("alice", "Where is ORD-1002?", thread_id=thread).reply


def test_the_model_sees_the_supervisors_words_afterwards(
        make_settings: Callable[..., Settings]) -> None:
    """On the OpenAI path, the next model call carries Sam's message, and every request is a
    conversation the API accepts (staff messages are named assistant messages)."""
    with OpenAICompatibleServer() as server:
        settings = make_settings("sqlite", model=f"openai:{MODEL_ID}", openai_api_key="k",
                                 openai_base_url=server.base_url)
        with SupportDesk.open(settings) as desk:
            thread = ask_for_person(desk)
            collect(desk.reply_as_staff("sam", thread, "Your refund is on its way, Alice."))
            collect(desk.hand_back("sam", thread))
            desk.ask("alice", "Where is ORD-1002?", thread_id=thread)
        assert server.invalid_requests == []
        last: dict[str, Any] = server.chat_requests()[-1]
        texts = [(m["role"], m.get("name"), m.get("content")) for m in last["messages"]]
        assert ("assistant", "staff", "Your refund is on its way, Alice.") in texts
