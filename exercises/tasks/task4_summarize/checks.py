"""Task 4 checks: a long conversation stays small, keeps its facts, and never breaks tool pairs.

Every check runs the same scripted 51-turn conversation in the learner's graph (a fresh process
each time), checkpointed into a SQLite file, then reads that file itself to judge what the
graph really kept after each turn.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from random import Random
from types import ModuleType
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.grader.learner import LearnerError
from exercises.grader.timeline import checkpoint_tuples, state_bytes, timeline
from exercises.kit import ORDERS, SYSTEM_PROMPT
from exercises.tasks import Task

MAX_MESSAGES = 12  # fixed by the brief: the system message counts
TURNS = 51         # 50 scripted turns, then "What's my name?"
EARLY, LATE = 10, 50  # the turns whose state sizes are compared
GROWTH = 1.5       # how much bigger the late state may be

# Turns 3-50 repeat this cycle; "{order}" alternates between the two orders not asked about in
# turn 2, so only turn 2 ever mentions that order and only turn 1 the name.
CYCLE = ("list my orders", "What is your return policy?", "Where is {order}?", "Thanks!",
         "Hello again!")
CYCLE_START = 3
# Turns EARLY and LATE sit at the same point of the cycle (and of the alternation), so the
# thread holds the same kinds of messages at both and their sizes can be compared fairly.
assert (LATE - EARLY) % (2 * len(CYCLE)) == 0


@dataclass(frozen=True)
class Script:
    """One run's conversation: the customer's name, the order of turn 2, every turn's text."""

    name: str
    order: str
    turns: tuple[str, ...]


def make_script(context: CheckContext) -> Script:
    """A conversation with a random name and orders, so hard-coded answers cannot pass."""
    (name,) = context.names(1)
    rng: Random = context.rng
    orders = sorted(ORDERS)
    first = rng.choice(orders)
    others = [order for order in orders if order != first]
    rng.shuffle(others)
    turns = [f"Hi, my name is {name}.", f"Where is my order {first}?"]
    for index in range(LATE - CYCLE_START + 1):
        order = others[(index // len(CYCLE)) % len(others)]
        turns.append(CYCLE[index % len(CYCLE)].format(order=order))
    turns.append("What's my name?")
    assert len(turns) == TURNS
    return Script(name, first, tuple(turns))


def _converse(learner: ModuleType, db_path: str, thread_id: str,
              turns: list[str]) -> dict[str, Any]:
    """In the learner's process: play the conversation; each turn's checkpoint id and reply."""
    build_agent = require_function(learner, "build_agent")
    connection = sqlite3.connect(db_path, check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        graph = build_agent(saver)
        config = {"configurable": {"thread_id": thread_id}}
        ends, replies = [], []
        for number, text in enumerate(turns, start=1):
            new = [HumanMessage(text)]
            if number == 1:
                new.insert(0, SystemMessage(SYSTEM_PROMPT))
            result = graph.invoke({"messages": new}, config)
            saved = saver.get_tuple(config)
            if saved is None:
                raise LearnerError("the graph saved no checkpoint in the checkpointer it was "
                                   "given: compile it with build_agent(checkpointer)'s argument")
            ends.append(saved.checkpoint["id"])
            replies.append(_reply_text(result))
        return {"ends": ends, "replies": replies}
    finally:
        connection.close()


def _reply_text(result: Any) -> str:
    """The text of the last message of an invoke result ('' if there is none)."""
    try:
        message = result["messages"][-1]
    except (TypeError, KeyError, IndexError):
        return ""
    return message.text if isinstance(message, BaseMessage) else str(message)


class History:
    """What the learner's graph saved for the conversation, read from the SQLite file."""

    def __init__(self, saver: SqliteSaver, thread_id: str, script: Script,
                 ends: list[str], replies: list[str]) -> None:
        self.saver, self.thread_id, self.script = saver, thread_id, script
        self.ends, self.replies = ends, replies
        self.tuples: list[CheckpointTuple] = checkpoint_tuples(saver, thread_id)
        self._by_id = {item.checkpoint["id"]: item for item in self.tuples}
        missing = [end for end in ends if end not in self._by_id]
        if len(ends) != len(script.turns) or missing:
            raise CheckFailed(f"the conversation's checkpoints could not be read back "
                              f"({len(ends)} turns recorded, {len(missing)} missing)")

    def values(self, turn: int) -> dict[str, Any]:
        """The state saved at the end of `turn` (1-based)."""
        values = self._by_id[self.ends[turn - 1]].checkpoint.get("channel_values") or {}
        return values if isinstance(values, dict) else {}

    def messages(self, turn: int) -> list[Any]:
        """The messages saved at the end of `turn`, after checking the turn was recorded."""
        messages = self.values(turn).get("messages")
        text = self.script.turns[turn - 1]
        expected = "the state's `messages` keep each new customer message (add_messages)"
        if not isinstance(messages, list):
            raise CheckFailed(f"after turn {turn} ({excerpt(text)}) the state's `messages` was "
                              f"{excerpt(messages)}, not a list of messages",
                              timeline=self.turn_rows(), expected=expected)
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        if not humans or humans[-1].text != text:
            raise CheckFailed(f"after turn {turn} ({excerpt(text)}) the state's newest customer "
                              f"message is not that one; the messages are {shape(messages)}",
                              timeline=self.turn_rows(), expected=expected)
        return messages

    def turn_of(self, checkpoint_id: str) -> int:
        """The turn during which a checkpoint was written (1-based)."""
        return min(bisect.bisect_left(self.ends, checkpoint_id) + 1, len(self.ends))

    def turn_rows(self, turns: set[int] | None = None,
                  every_checkpoint: bool = False) -> list[dict[str, Any]]:
        """Timeline rows: the end of each turn (or every checkpoint of `turns`), labelled."""
        ends = set(self.ends)
        rows = []
        for row in timeline(self.saver, self.thread_id):
            turn = self.turn_of(row["checkpoint_id"])
            if turns is not None and turn not in turns:
                continue
            if every_checkpoint or row["checkpoint_id"] in ends:
                rows.append({**row, "node": f"{row['node']} (turn {turn})"})
        return rows


@contextmanager
def converse(context: CheckContext) -> Iterator[History]:
    """Play the conversation in the learner's graph, then open what it saved."""
    script = make_script(context)
    db_path = Path(context.workdir) / "task4.sqlite"
    thread_id = f"customer-{context.rng.randrange(10**6)}"
    outcome = context.scenario(_converse, str(db_path), thread_id, list(script.turns))
    connection = sqlite3.connect(db_path, check_same_thread=False)
    try:
        yield History(SqliteSaver(connection), thread_id, script, outcome["ends"],
                      outcome["replies"])
    finally:
        connection.close()


def shape(messages: list[Any], limit: int = 16) -> str:
    """A message list in brief: 'system, human, ai→get_order_status, tool(get_order_status)…'."""
    labels = []
    for message in messages[:limit]:
        if isinstance(message, AIMessage) and message.tool_calls:
            labels.append("ai→" + "+".join(call["name"] for call in message.tool_calls))
        elif isinstance(message, ToolMessage):
            labels.append(f"tool({message.name or message.tool_call_id})")
        elif isinstance(message, BaseMessage):
            labels.append(message.type)
        else:
            labels.append(type(message).__name__)
    more = f", … {len(messages) - limit} more" if len(messages) > limit else ""
    return "[" + ", ".join(labels) + more + "]"


def check_bounded(context: CheckContext) -> None:
    """After every turn the thread holds at most MAX_MESSAGES messages."""
    with converse(context) as history:
        for turn in range(1, TURNS + 1):
            messages = history.messages(turn)
            if len(messages) > MAX_MESSAGES:
                raise CheckFailed(
                    f"after turn {turn} ({excerpt(history.script.turns[turn - 1])}) the thread "
                    f"held {len(messages)} messages: {shape(messages)}",
                    timeline=history.turn_rows(),
                    expected=f"at most {MAX_MESSAGES} messages after every turn, the system "
                             "message included")


def check_summary_facts(context: CheckContext) -> None:
    """At turn 50 the summary still holds the name (turn 1) and the order (turn 2)."""
    with converse(context) as history:
        script = history.script
        history.messages(LATE)
        summary = history.values(LATE).get("summary")
        expected = (f"a `summary` that still names {script.name} and {script.order} after "
                    f"turn {LATE} (pass the previous summary to summarize())")
        if summary is None:
            raise CheckFailed(f"after turn {LATE} the state had no `summary`: add `summary: str` "
                              "to the state and write the new summary there",
                              timeline=history.turn_rows(), expected=expected)
        text = summary if isinstance(summary, str) else ""
        lost = [fact for fact in (script.name, script.order) if fact not in text]
        if lost:
            last_known = max((turn for turn in range(1, LATE + 1)
                              if all(fact in str(history.values(turn).get("summary"))
                                     for fact in lost)), default=None)
            since = (f"; it last held them after turn {last_known}" if last_known
                     else "; no summary ever held them")
            raise CheckFailed(f"after turn {LATE} the summary was {excerpt(summary, 300)}, "
                              f"without {' and '.join(lost)}{since}",
                              timeline=history.turn_rows(), expected=expected)


def _broken_pair(messages: list[Any]) -> str | None:
    """What is wrong with the tool calls and ToolMessages of one message list, if anything."""
    asked: dict[str, str] = {}
    for index, message in enumerate(messages):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                asked[call["id"]] = call["name"]
        elif isinstance(message, ToolMessage) and message.tool_call_id not in asked:
            return (f"messages[{index}] is a ToolMessage ({message.name or 'a tool'}'s result) "
                    "but the AIMessage that called it is no longer before it")
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    for index, message in enumerate(messages[:-1]):  # the newest may still await its tools
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] not in answered:
                    return (f"messages[{index}] is an AIMessage calling {call['name']} but that "
                            "call's ToolMessage is gone")
    return None


def check_tool_pairs(context: CheckContext) -> None:
    """No checkpoint holds a ToolMessage without its AIMessage, or a call without its result."""
    with converse(context) as history:
        tools_seen = False
        for item in history.tuples:
            messages = (item.checkpoint.get("channel_values") or {}).get("messages")
            if not isinstance(messages, list):
                continue
            tools_seen = tools_seen or any(isinstance(m, ToolMessage) for m in messages)
            problem = _broken_pair(messages)
            if problem:
                turn = history.turn_of(item.checkpoint["id"])
                raise CheckFailed(
                    f"during turn {turn} ({excerpt(history.script.turns[turn - 1])}) a "
                    f"checkpoint held {shape(messages)}: {problem}",
                    timeline=history.turn_rows({turn - 1, turn}, every_checkpoint=True),
                    expected="cuts only where a customer message starts a turn, so every "
                             "ToolMessage stays right after the AIMessage that called it")
        if not tools_seen:
            raise CheckFailed("no checkpoint held a ToolMessage, though the customer asked "
                              "about orders and the policy: bind shop_tools() to the model and "
                              "run them in a ToolNode", timeline=history.turn_rows(),
                              expected="tool calls answered by ToolMessages")


def check_system_prompt(context: CheckContext) -> None:
    """After every turn messages[0] is the grader's SystemMessage, unchanged."""
    with converse(context) as history:
        for turn in range(1, TURNS + 1):
            messages = history.messages(turn)
            first = messages[0]
            if isinstance(first, SystemMessage) and first.content == SYSTEM_PROMPT:
                continue
            if not isinstance(first, SystemMessage):
                text = getattr(first, "text", first)
                what = f"{shape([first])[1:-1]} message {excerpt(text)}"
            elif first.text.startswith(SYSTEM_PROMPT):
                added = first.text[len(SYSTEM_PROMPT):]
                what = f"the system message with text added at its end: {excerpt(added)}"
            else:
                what = f"a system message whose text changed to {excerpt(first.text, 200)}"
            raise CheckFailed(f"after turn {turn} messages[0] was {what}; the thread held "
                              f"{shape(messages)}", timeline=history.turn_rows(),
                              expected="messages[0] is the SystemMessage the conversation "
                                       "started with, unchanged, after every turn")


def check_state_size(context: CheckContext) -> None:
    """The saved state at turn 50 is at most 1.5 times its size at turn 10."""
    with converse(context) as history:
        sizes = {}
        for turn in (EARLY, LATE):
            count = len(history.messages(turn))
            sizes[turn] = (state_bytes(history.saver, history.values(turn)), count)
        (early, early_count), (late, late_count) = sizes[EARLY], sizes[LATE]
        if late > GROWTH * early:
            raise CheckFailed(
                f"the latest checkpoint's state was {early:,} bytes ({early_count} messages) "
                f"after turn {EARLY} and {late:,} bytes ({late_count} messages) after turn "
                f"{LATE}: {late / early:.1f} times as big", timeline=history.turn_rows(),
                expected=f"at most {GROWTH:g} × {early:,} bytes after turn {LATE} (the two "
                         "turns are at the same point of a repeating conversation)")


def check_knows_name(context: CheckContext) -> None:
    """After 50 turns, "What's my name?" is answered with the name from turn 1."""
    with converse(context) as history:
        name = history.script.name
        reply = history.replies[TURNS - 1]
        if not reply.strip():
            raise CheckFailed(f"turn {TURNS} (\"What's my name?\") got an empty reply: the last "
                              "message of the result should be the model's answer",
                              expected=f"a reply naming {name}")
        if name not in reply:
            summary = str(history.values(TURNS - 1).get("summary") or "")
            why = (" The summary held the name, so the model was not shown the summary."
                   if name in summary else " The summary did not hold the name.")
            raise CheckFailed(f"told {name!r} in turn 1; after {TURNS - 1} more turns "
                              f"\"What's my name?\" was answered {excerpt(reply)}.{why}",
                              timeline=history.turn_rows(), expected=f"a reply naming {name}")


TASK = Task(
    number=4, slug="task4_summarize", title="Summarising and pruning: bounded state", minutes=50,
    checks=(
        Check("bounded-messages", f"at most {MAX_MESSAGES} messages after every turn", 3,
              "after each turn, fold the oldest whole turns into the summary and remove them "
              "with RemoveMessage(id=...) until at most MAX_MESSAGES remain", check_bounded),
        Check("summary-keeps-facts", "the summary still holds turn 1 and 2's facts at turn 50",
              3, "call summarize(previous_summary, folded_messages) with the summary already in "
                 "state, and store its result in `summary`", check_summary_facts),
        Check("tool-pairs-intact", "tool calls and their results are never separated", 3,
              "cut only at a HumanMessage (the start of a turn): never between an AIMessage "
              "with tool_calls and its ToolMessages", check_tool_pairs),
        Check("system-prompt-kept", "the system message stays first and unchanged", 2,
              "never fold or remove messages[0], and do not rewrite it: give the model the "
              "summary as a separate message when you call it", check_system_prompt),
        Check("state-size-flat", "the saved state stops growing", 3,
              "remove the folded messages from state (returning a summary alone does not "
              "shrink `messages`)", check_state_size),
        Check("still-knows-name", "after 50 turns the agent still knows the name", 2,
              "show the model the summary (e.g. a SystemMessage 'Summary of the earlier "
              "conversation: ...' after the system prompt) and keep the facts in it",
              check_knows_name),
    ),
)
