"""The SupportDesk façade: threads, ownership, approvals, history, time travel, export."""

from __future__ import annotations

import json
import re

import pytest

from agent.errors import InvalidInput, NotAllowed, NotFound
from agent.service import collect
from agent.views import ApprovalRequestedEvent, TokenEvent, ToolCallEvent, TurnEndedEvent


def test_threads_are_listed_newest_first_and_paged(desk):
    """Creating, titling, listing and paging a user's threads."""
    ids = [desk.ask("alice", f"hello number {n}").thread_id for n in range(5)]
    page = desk.list_threads("alice", limit=2)
    assert page.total == 5
    assert [t.thread_id for t in page.threads] == ids[::-1][:2]
    assert [t.thread_id for t in desk.list_threads("alice", limit=2, offset=4).threads] == \
        [ids[0]]
    assert page.threads[0].title == "hello number 4"
    assert all(re.fullmatch(r"t_[0-9a-f]{32}", i) for i in ids), "opaque 128-bit ids"
    # Activity moves a thread to the top.
    desk.ask("alice", "hello again", thread_id=ids[0])
    assert desk.list_threads("alice", limit=1).threads[0].thread_id == ids[0]


def test_new_thread_is_titled_by_its_first_message(desk):
    """An empty thread takes its title from the first message sent to it."""
    record = desk.create_thread("alice")
    assert record.title == "New conversation"
    desk.ask("alice", "Where is ORD-1002?", thread_id=record.thread_id)
    assert desk.list_threads("alice").threads[0].title == "Where is ORD-1002?"


def test_rename_close_and_delete(desk):
    """Rename, close (a new message reopens), delete (gone with its checkpoints)."""
    thread = desk.ask("alice", "hello").thread_id
    assert desk.rename_thread("alice", thread, "  Boots  ").title == "Boots"
    with pytest.raises(InvalidInput, match="empty"):
        desk.rename_thread("alice", thread, "   ")
    assert desk.close_thread("alice", thread).status == "closed"
    assert desk.ask("alice", "hello again", thread_id=thread).status == "active"
    desk.delete_thread("alice", thread)
    assert desk.list_threads("alice").total == 0
    with pytest.raises(NotFound):
        desk.view_thread("alice", thread)
    assert desk.persistence.checkpointer.get_tuple({"configurable": {"thread_id": thread}}) is None


def test_bad_messages_are_refused_and_leave_nothing_behind(desk):
    """Empty and oversized messages get a clear error; no thread is created."""
    with pytest.raises(InvalidInput, match="empty"):
        desk.ask("alice", "   ")
    with pytest.raises(InvalidInput, match="4,001 characters long; the limit is 4,000"):
        desk.ask("alice", "x" * 4001)
    assert desk.list_threads("alice").total == 0
    with pytest.raises(NotFound, match="unknown user"):
        desk.ask("mallory", "hello")


def test_another_customer_learns_nothing_about_a_thread(desk):
    """bob (same tenant) cannot list, read, resume, time-travel or change alice's thread."""
    thread = desk.ask("alice", "Please refund ORD-1001, my boots leak").thread_id
    checkpoint = desk.history("alice", thread)[0].checkpoint_id
    assert desk.list_threads("bob").total == 0
    attempts = [
        lambda: desk.view_thread("bob", thread),
        lambda: desk.ask("bob", "hi", thread_id=thread),
        lambda: desk.history("bob", thread),
        lambda: desk.state_at("bob", thread, checkpoint),
        lambda: desk.replay("bob", thread, checkpoint),
        lambda: desk.fork("bob", thread, checkpoint, "hi"),
        lambda: desk.rename_thread("bob", thread, "mine"),
        lambda: desk.close_thread("bob", thread),
        lambda: desk.delete_thread("bob", thread),
        lambda: desk.export_thread("bob", thread),
        lambda: desk.view_thread("dave", thread),  # another tenant entirely
        lambda: desk.decide_approval("gina", thread, {"action": "approve"}),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound, match=r"^thread not found$"):
            attempt()
    with pytest.raises(NotAllowed):
        desk.decide_approval("bob", thread, {"action": "approve"})
    with pytest.raises(NotAllowed):
        desk.pending_approvals("bob")
    assert desk.pending_approvals("gina") == []
    assert desk.view_thread("alice", thread).thread.status == "awaiting_approval"


def test_supervisor_reads_tenant_threads_but_does_not_chat(desk):
    """sam reads alice's thread and history; sam cannot write in it or start chats."""
    thread = desk.ask("alice", "hello").thread_id
    assert desk.view_thread("sam", thread).messages[0].text == "hello"
    assert desk.history("sam", thread)
    with pytest.raises(NotAllowed, match="supervisor"):
        desk.ask("sam", "hello")
    with pytest.raises(NotAllowed, match="supervisor"):
        desk.ask("sam", "hello", thread_id=thread)
    with pytest.raises(NotFound):
        desk.rename_thread("sam", thread, "x")


def test_approval_flow_and_double_decision(desk):
    """Pending per tenant, one decision applied once; a stale decision is reported."""
    result = desk.ask("alice", "Please refund ORD-1001, my boots leak")
    [pending] = desk.pending_approvals("sam")
    assert pending.thread_id == result.thread_id
    with pytest.raises(InvalidInput, match="waiting for a supervisor"):
        desk.ask("alice", "hello?", thread_id=result.thread_id)
    events = list(desk.decide_approval("sam", result.thread_id, {"action": "approve"},
                                       interrupt_id=pending.interrupt_id))
    assert isinstance(events[-1], TurnEndedEvent) and events[-1].status == "active"
    assert "Refunded $129.00" in events[-1].reply
    with pytest.raises(InvalidInput, match="decided already"):
        desk.decide_approval("sam", result.thread_id, {"action": "approve"},
                             interrupt_id=pending.interrupt_id)
    assert len(desk.shop.ledger()) == 1
    assert desk.pending_approvals("sam") == []


@pytest.mark.parametrize("decision, message", [
    ({"action": "maybe"}, "action"),
    ({"action": "reject"}, "reason"),
    ({"action": "reject", "reason": "  "}, "reason"),
    ({"action": "edit"}, "arguments"),
    ({"action": "edit", "arguments": {"amount": -1}}, "amount"),
    ({"action": "edit", "arguments": {"colour": "red"}}, "colour"),
    ({"action": "approve", "extra": 1}, "extra"),
    ("approve", "must be an object"),
])
def test_malformed_decision_is_refused_and_thread_keeps_waiting(desk, decision, message):
    """Each malformed decision names what is wrong and decides nothing."""
    thread = desk.ask("alice", "Please refund ORD-1001").thread_id
    with pytest.raises(InvalidInput, match=message):
        desk.decide_approval("sam", thread, decision)
    assert desk.view_thread("alice", thread).thread.status == "awaiting_approval"
    assert len(desk.pending_approvals("sam")) == 1
    assert desk.shop.ledger() == []


def test_streamed_events_of_a_turn(desk):
    """Tokens stream one by one, tool calls are announced, approval requests arrive."""
    events = list(desk.send_message("alice", "What is your return policy?"))
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) > 5
    assert "".join(tokens) == events[-1].reply
    assert any(isinstance(e, ToolCallEvent) and e.name == "search_policy" for e in events)
    events = list(desk.send_message("alice", "Cancel ORD-1003"))
    assert any(isinstance(e, ApprovalRequestedEvent) for e in events)


def test_history_paging_and_fields(desk):
    """History pages newest first, with step, source, writer, size and message count."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    desk.ask("alice", "Thanks!", thread_id=thread)
    everything = desk.history("alice", thread, limit=100)
    assert [c.step for c in everything] == sorted((c.step for c in everything), reverse=True)
    first_page = desk.history("alice", thread, limit=3)
    second_page = desk.history("alice", thread, limit=3, before=first_page[-1].checkpoint_id)
    assert [c.checkpoint_id for c in first_page + second_page] == \
        [c.checkpoint_id for c in everything[:6]]
    newest = everything[0]
    assert newest.written_by == ("agent",) and newest.next_nodes == ()
    assert newest.message_count == 6 and newest.size_bytes > 500
    assert everything[-1].source == "input" and everything[-1].message_count == 0
    assert [c.can_fork for c in everything if c.written_by == ("__start__",)] == [True, True]


def test_state_at_shows_values_and_the_change_from_the_parent(desk):
    """The state at a checkpoint and which messages its step added."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    after_tools = next(c for c in desk.history("alice", thread) if c.written_by == ("tools",))
    state = desk.state_at("alice", thread, after_tools.checkpoint_id)
    assert state.messages[-1].role == "tool"
    assert state.added_message_ids == [state.messages[-1].id]
    assert state.removed_message_ids == []
    assert state.values["messages"][-1]["type"] == "tool"
    json.dumps(state.values)  # raw values are JSON-ready
    with pytest.raises(NotFound, match="checkpoint"):
        desk.state_at("alice", thread, "1f000000-0000-6000-8000-000000000000")


def test_replay_runs_again_from_a_checkpoint_on_a_new_branch(desk):
    """Replaying from before the agent step writes a branch that shares the parent."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    before_agent = next(c for c in desk.history("alice", thread) if c.next_nodes == ("agent",)
                        and c.written_by == ("load_memory",))
    result = collect(desk.replay("alice", thread, before_agent.checkpoint_id))
    assert "1Z999AA10123456791" in result.reply
    children = [c for c in desk.history("alice", thread, limit=100)
                if c.parent_id == before_agent.checkpoint_id]
    assert len(children) == 2, "the original step and the replayed one both hang off it"
    with pytest.raises(InvalidInput, match="nothing to replay"):
        desk.replay("alice", thread, desk.history("alice", thread)[0].checkpoint_id)


def test_fork_edits_the_customer_message_on_a_new_branch(desk):
    """A fork replaces the human message at that point and answers the new one."""
    thread = desk.ask("alice", "Where is ORD-1002?").thread_id
    turn_start = next(c for c in desk.history("alice", thread) if c.can_fork)
    result = collect(desk.fork("alice", thread, turn_start.checkpoint_id, "Where is ORD-1003?"))
    assert "ORD-1003" in result.reply and "processing" in result.reply
    texts = [m.text for m in desk.view_thread("alice", thread).messages]
    assert "Where is ORD-1002?" not in texts and "Where is ORD-1003?" in texts
    history = desk.history("alice", thread, limit=100)
    assert any(c.source == "update" for c in history)
    old_branch = desk.state_at("alice", thread, turn_start.checkpoint_id)
    assert old_branch.messages[-1].text == "Where is ORD-1002?", "the old branch is intact"
    with pytest.raises(InvalidInput, match="customer message"):
        desk.fork("alice", thread, history[0].checkpoint_id, "hi")


def test_export_is_json_with_every_checkpoint_oldest_first(desk):
    """The export holds the thread and all its checkpoints with their values."""
    thread = desk.ask("alice", "My name is Alice").thread_id
    desk.ask("alice", "Where is ORD-1001?", thread_id=thread)
    data = json.loads(json.dumps(desk.export_thread("alice", thread)))
    steps = [c["step"] for c in data["checkpoints"]]
    assert steps == sorted(steps) and steps[0] == -1
    assert len(steps) == len(desk.history("alice", thread, limit=200))
    assert data["thread"]["thread_id"] == thread
    last = data["checkpoints"][-1]["values"]["messages"][-1]
    assert last["type"] == "ai" and "ORD-1001" in last["data"]["content"]


ABANDON_SCRIPT = """
import sys
from agent.service import SupportDesk
from agent.views import TokenEvent
desk = SupportDesk.open(saver=sys.argv[1], sqlite_path="support.db")
thread = desk.ask("alice", "Please refund ORD-1001").thread_id
events = desk.decide_approval("sam", thread, {"action": "reject", "reason": "no"})
try:
    for event in events:
        if isinstance(event, TokenEvent):
            raise RuntimeError("the caller gave up mid-stream")
finally:
    desk.close()
"""


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_closing_the_desk_with_a_turn_still_streaming_exits_cleanly(saver, tmp_path):
    """A caller that abandons a stream then closes the desk gets its error, not a crash."""
    import subprocess
    import sys

    script = tmp_path / "abandon.py"
    script.write_text(ABANDON_SCRIPT)
    done = subprocess.run([sys.executable, str(script), saver], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    # Before the fix the worker thread used the closed SQLite connection: a segfault (-11).
    assert done.returncode == 1, done.stderr
    assert "the caller gave up mid-stream" in done.stderr
