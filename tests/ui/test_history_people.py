"""The History page for people: customers read their steps in words, supervisors also the internals.

The real app under AppTest on a real SQLite file (tests/ui/conftest.py). Data is prepared and
checked through the SupportDesk façade; the page is read as a person would read it: which
columns the timeline shows, what its rows say, which tabs and notices appear, and the
picture of the agent's graph (Graphviz DOT, drawn from the compiled graph).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from streamlit.testing.v1 import AppTest

from agent.service import SupportDesk, collect
from agent.tools import registry
from ui.components.text import plain

HISTORY = "views/history.py"
TRACKING_QUESTION = "Where is ORD-1002?"
REFUND = "Please refund ORD-1001, the boots leak"
TECHNICAL = {"step", "source", "written by", "next", "bytes", "checkpoint", "branch"}
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def history_page(open_app, user_id: str) -> AppTest:
    """Sign in and open History."""
    at = open_app(user_id).switch_page(HISTORY).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_columns(at: AppTest) -> list[str]:
    """The timeline's columns a reader sees, in order (hidden ones are left out)."""
    [table] = at.dataframe
    return list(table.proto.column_order)


def column_labels(at: AppTest) -> dict[str, str]:
    """Each shown column's header as the reader sees it."""
    [table] = at.dataframe
    config = json.loads(table.proto.columns or "{}")
    return {name: config.get(name, {}).get("label", name) for name in shown_columns(at)}


def rows(at: AppTest):
    """The timeline's data (every column, shown or not)."""
    [table] = at.dataframe
    return table.value


def select(at: AppTest, row: int) -> AppTest:
    """Select a timeline row as the browser does, then rerun."""
    [table] = at.dataframe
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    """Every piece of text the main area shows."""
    parts = [e.value for kind in ("markdown", "caption", "success", "warning", "info", "error")
             for e in getattr(at.main, kind)]
    return "\n".join(str(p) for p in parts)


def graph_dots(at: AppTest) -> list[str]:
    """The DOT of each graph picture on the page."""
    return [element.proto.spec for element in at.get("graphviz_chart")]


def local(created_at: str) -> str:
    """A checkpoint time as the page shows it (no browser here: the server's zone)."""
    return datetime.fromisoformat(created_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def node_line(dot: str, node: str) -> str:
    """The DOT line declaring one node."""
    [line] = [s for s in dot.splitlines() if s.strip().startswith(f'"{node}" [')]
    return line


# --- the customer's view ------------------------------------------------------------------------


def test_customer_reads_steps_in_words_with_date_and_message(open_app,
                                                            desk: SupportDesk) -> None:
    """When (date and time), the message each step belongs to, and what happened in words."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    at = history_page(open_app, "alice")
    assert shown_columns(at) == ["when", "message", "what happened"]
    assert column_labels(at) == {"when": "When", "message": "Your message",
                                 "what happened": "What happened"}
    table = rows(at)
    infos = desk.history("alice", thread, limit=20)
    assert list(table["when"]) == [local(i.created_at) for i in infos]
    assert all(DATE_TIME.match(when) for when in table["when"])
    assert set(table["message"]) == {TRACKING_QUESTION}
    happened = list(table["what happened"])
    assert happened[-1] == "You sent a new message"  # oldest last: the message arriving
    assert f"You wrote: “{TRACKING_QUESTION}”" in happened
    assert happened[0] == "The assistant replied"
    # The tool step in the registry's words for the tool (its progress words, else its label).
    progress = registry.progress_words({"name": "get_order_status",
                                        "args": {"order_id": "ORD-1002"}})
    expected = "ORD-1002" if "ORD-1002" in progress else "order status"
    assert sum(h.startswith("The assistant ") and expected in h for h in happened) == 2, happened
    text = " ".join(happened)
    assert "get_order_status" not in text and "__" not in text and "{" not in text
    assert not any("head checkpoint" in c.value for c in at.caption)


def test_customer_sees_no_technical_columns_or_raw_values(open_app, desk: SupportDesk) -> None:
    """No step, source, node names, bytes or ids; no Raw values tab; tool calls as words."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    at = history_page(open_app, "alice")
    assert not TECHNICAL & set(shown_columns(at))
    select(at, 0)  # the reply: its state holds the tool call, its result and the answer
    assert [t.label for t in at.tabs] == ["Messages", "Summary", "Changes"]
    assert not at.json, "no raw JSON for a customer"
    text = page_text(at)
    assert "get_order_status" not in text and "order_id" not in text
    assert "written by" not in text and "Step " not in text
    # The tool call reads as words in the assistant's bubble; its raw result is not shown.
    bubbles = [m.value for bubble in at.main.chat_message
               for m in [*bubble.markdown, *bubble.caption]]
    progress = registry.progress_words({"name": "get_order_status",
                                        "args": {"order_id": "ORD-1002"}})
    assert any(plain(progress) in b for b in bubbles), bubbles
    assert any("1Z999AA10123456791" in b for b in bubbles)  # the reply itself
    assert not any("{" in b for b in bubbles), bubbles
    # The question and the assistant (its tool call in words, its reply); no tool-result line.
    assert [b.name for b in at.tabs[0].chat_message][:1] == ["user"]
    assert {b.name for b in at.tabs[0].chat_message} == {"user", "assistant"}
    assert not any(":material/build:" in c.value for c in at.caption)
    head = desk.state_at("alice", thread, desk.history("alice", thread, limit=1)[0].checkpoint_id)
    [result] = [m for m in head.messages if m.role == "tool"]
    assert plain(result.text.splitlines()[0]) not in text


def test_customer_sees_the_graph_picture_in_words(open_app, desk: SupportDesk) -> None:
    """The picture is there for a customer too, its steps named in words, not node names."""
    desk.ask("alice", TRACKING_QUESTION)
    at = select(history_page(open_app, "alice"), 0)
    [dot] = graph_dots(at)
    assert '"agent" [label="assistant thinks\\nand writes"' in dot  # on two lines
    assert 'label="load_memory"' not in dot
    # Every node of the graph has words: none is shown by its name.
    for node in desk.graph.get_graph().nodes:
        assert f'label="{node}"' not in dot, node
    # The newest step ended the turn: the end is what is highlighted.
    assert "runs-next" in node_line(dot, "__end__")


def test_customer_page_marks_an_earlier_version_after_a_fork(open_app,
                                                            desk: SupportDesk) -> None:
    """After a fork the customer's table gains a Version column: current or earlier version."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    fork_point = next(i for i in desk.history("alice", thread, limit=20) if i.can_fork)
    collect(desk.fork("alice", thread, fork_point.checkpoint_id, "Where is ORD-1003?"))
    at = history_page(open_app, "alice")
    assert shown_columns(at) == ["when", "message", "what happened", "branch"]
    assert column_labels(at)["branch"] == "Version"
    versions = dict(zip(rows(at)["checkpoint"], rows(at)["branch"], strict=True))
    assert versions[fork_point.checkpoint_id] == "current · forked here"
    assert "earlier version" in versions.values()
    assert "You changed your message to: “Where is ORD-1003?”" in list(rows(at)["what happened"])


# --- the supervisor's view ----------------------------------------------------------------------


def test_supervisor_sees_the_technical_columns_too(open_app, desk: SupportDesk) -> None:
    """Words and dates, and the step, source, nodes, size, branch and checkpoint id."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    at = history_page(open_app, "sam")
    assert set(shown_columns(at)) >= TECHNICAL
    assert {"when", "message", "what happened"} <= set(shown_columns(at))
    labels = column_labels(at)
    assert labels["checkpoint"] == "Checkpoint id" and labels["message"] == "Customer message"
    table = rows(at)
    infos = desk.history("sam", thread, limit=20)
    assert list(table["checkpoint"]) == [i.checkpoint_id for i in infos]
    assert list(table["written by"]) == [", ".join(i.written_by) or "-" for i in infos]
    assert set(table["branch"]) == {"current"}
    assert any(f"head checkpoint {infos[0].checkpoint_id}" in c.value for c in at.caption)


def test_supervisor_graph_picture_highlights_what_runs_next(open_app,
                                                            desk: SupportDesk) -> None:
    """The selected checkpoint's next node is highlighted in a picture of the compiled graph."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    infos = desk.history("sam", thread, limit=20)
    row = next(i for i, info in enumerate(infos) if info.next_nodes == ("load_memory",))
    at = select(history_page(open_app, "sam"), row)
    [dot] = graph_dots(at)
    drawable = desk.graph.get_graph()
    for name in drawable.nodes:  # every node of the compiled graph, by its own name
        label = {"__start__": "start", "__end__": "end"}.get(name, name)
        assert f'label="{label}"' in node_line(dot, name)
    assert "runs-next" in node_line(dot, "load_memory")
    assert [n for n in drawable.nodes if "runs-next" in node_line(dot, n)] == ["load_memory"]
    for edge in drawable.edges:
        [line] = [s for s in dot.splitlines()
                  if s.strip().startswith(f'"{edge.source}" -> "{edge.target}"')]
        assert ('style="dashed"' in line) == edge.conditional, line
    assert [t.label for t in at.tabs] == ["Messages", "Summary", "Changes", "Raw values"]


def test_step_header_shows_node_names_with_their_underscores(open_app,
                                                             desk: SupportDesk) -> None:
    """'written by __start__' is escaped for markdown (unescaped it renders as bold 'start')."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    infos = desk.history("sam", thread, limit=20)
    row = next(i for i, info in enumerate(infos) if info.written_by == ("__start__",))
    at = select(history_page(open_app, "sam"), row)
    [header] = [m.value for m in at.main.markdown if m.value.startswith("Step ")]
    assert r"written by \_\_start\_\_" in header
    assert "__start__" not in header.replace(r"\_", "")  # no bare underscores left to mangle


def test_customer_message_in_a_step_is_shown_as_typed(open_app, desk: SupportDesk) -> None:
    """What a customer wrote never renders as markdown in the step's words."""
    desk.ask("alice", "my **order** _ORD-1002_ [x](javascript:alert)")
    at = history_page(open_app, "alice")
    fork_row = next(i for i, words in enumerate(rows(at)["what happened"])
                    if words.startswith("You wrote"))
    select(at, fork_row)
    [words] = [m.value for m in at.main.markdown if "You wrote" in m.value]
    assert r"\*\*order\*\*" in words and r"\_ORD" in words and r"\[x\]\(" in words


# --- fork that ends waiting ---------------------------------------------------------------------


def test_fork_that_ends_waiting_for_approval_says_so(open_app, desk: SupportDesk) -> None:
    """The notice names what waits for a supervisor, not an empty 'Reply:'."""
    thread = desk.ask("alice", TRACKING_QUESTION).thread_id
    at = history_page(open_app, "alice")
    row = next(i for i, info in enumerate(desk.history("alice", thread, limit=20))
               if info.can_fork)
    select(at, row)
    [text] = at.text_area
    text.set_value(REFUND)
    [fork] = at.form_submit_button
    fork.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [waiting] = [w.value for w in at.warning]
    assert waiting.startswith("The new branch is waiting for a supervisor to approve ")
    assert "ORD\\-1001" in waiting  # plain(): escaped for markdown, shown as ORD-1001
    assert not any("Reply:" in s.value for s in at.success)
    [pending] = desk.view_thread("alice", thread).pending_approvals
    assert pending.action == "issue_refund"
    if pending.in_words:
        assert plain(pending.in_words) in waiting
    assert rows(at)["what happened"][0].startswith("Waiting for a supervisor to approve")


@pytest.mark.parametrize("user_id", ["alice", "sam"])
def test_waiting_step_reads_as_waiting(open_app, desk: SupportDesk, user_id: str) -> None:
    """The checkpoint a thread waits at says what it waits for, to customer and supervisor."""
    desk.ask("alice", REFUND)
    at = history_page(open_app, user_id)
    newest = rows(at)["what happened"][0]
    assert newest.startswith("Waiting for a supervisor to approve ")
    assert "ORD-1001" in newest


# --- the words, through the façade ----------------------------------------------------------------


def steps_in_words(desk: SupportDesk, thread: str) -> list[str]:
    """What each step of a thread did, oldest first, as its customer reads it."""
    return [info.in_words for info in reversed(desk.history("alice", thread, limit=100))]


def test_steps_of_an_edited_refund_in_words(desk: SupportDesk) -> None:
    """Asked, waited, changed and approved by a supervisor, carried out: each step says so."""
    thread = desk.ask("alice", REFUND).thread_id
    collect(desk.decide_approval("sam", thread, {"action": "edit", "arguments": {"amount": 20}}))
    words = steps_in_words(desk, thread)
    assert words[:2] == ["You sent a new message", f"You wrote: “{REFUND}”"]
    asked = next(i for i, w in enumerate(words)
                 if w.startswith("The assistant asked a supervisor to approve "))
    assert "ORD-1001" in words[asked]
    assert words[asked + 1].startswith("Waited for a supervisor to approve ")
    assert words[asked + 2] == "A supervisor changed the refund on ORD-1001 and approved it"
    assert words[asked + 3] == "The assistant carried out the refund on ORD-1001"
    assert words[-1] == "The assistant replied"
    assert {info.message for info in desk.history("alice", thread, limit=100)} == {REFUND}


def test_steps_of_a_declined_refund_in_words(desk: SupportDesk) -> None:
    """A rejection reads as declined, and the refund as not carried out."""
    thread = desk.ask("alice", "Please refund ORD-1002, the zip broke").thread_id
    collect(desk.decide_approval("sam", thread, {"action": "reject", "reason": "worn out"}))
    words = steps_in_words(desk, thread)
    assert "A supervisor declined the refund on ORD-1002" in words
    assert "The refund on ORD-1002 was not carried out" in words
    assert not any("carried out the refund" in w for w in words)


def test_steps_of_a_supervisor_reply_in_words(desk: SupportDesk) -> None:
    """A supervisor answering instead of deciding: named, as a person from the team."""
    thread = desk.ask("alice", REFUND).thread_id
    collect(desk.decide_approval("sam", thread, {"action": "respond",
                                                 "message": "Could you send a photo?"}))
    words = steps_in_words(desk, thread)
    assert "A supervisor answered you instead of deciding on the refund on ORD-1001" in words
    replied = next(w for w in words if "from our team replied" in w)
    assert "Sam Rivera from our team replied" in replied and "took over" in replied
