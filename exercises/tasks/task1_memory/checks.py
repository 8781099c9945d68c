"""Task 1 checks: an InMemorySaver agent remembers within a thread and only there."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.tasks import Task


def _saver_kind(learner: ModuleType) -> str:
    graph = require_function(learner, "build_agent")()
    saver = getattr(graph, "checkpointer", None)
    return type(saver).__name__ if saver is not None else "none"


def _tell_and_ask(learner: ModuleType, name: str, thread: str, other: str) -> dict[str, Any]:
    build_agent, ask = require_function(learner, "build_agent"), require_function(learner, "ask")
    graph = build_agent()
    told = ask(graph, thread, f"Hi, my name is {name}.")
    same = ask(graph, thread, "What's my name?")
    elsewhere = ask(graph, other, "What's my name?")
    replies = {"told": told, "same": same, "elsewhere": elsewhere}
    for reply in replies.values():
        if not isinstance(reply, str):
            raise TypeError(f"ask() returned {type(reply).__name__} ({reply!r:.60}), not the "
                            "reply's text as a str")
    return replies


def check_saver(context: CheckContext) -> None:
    """build_agent() compiles the graph with an InMemorySaver."""
    kind = context.scenario(_saver_kind)
    if kind != "InMemorySaver":
        raise CheckFailed(f"build_agent() returned a graph whose checkpointer is {kind}",
                          expected="InMemorySaver")


def check_same_thread(context: CheckContext) -> None:
    """A second message on the same thread id can answer from the first."""
    (name,) = context.names(1)
    replies = context.scenario(_tell_and_ask, name, "thread-a", "thread-b")
    if name not in replies["same"]:
        raise CheckFailed(f"told {name!r} on thread 'thread-a', then asked \"What's my name?\" "
                          f"on the same thread; the reply was {excerpt(replies['same'])}",
                          expected=f"a reply naming {name}")


def check_other_thread(context: CheckContext) -> None:
    """Another thread id starts empty: it does not know the name."""
    (name,) = context.names(1)
    replies = context.scenario(_tell_and_ask, name, "thread-a", "thread-b")
    if not replies["elsewhere"].strip():
        raise CheckFailed("ask() returned an empty reply on 'thread-b'; return the text of the "
                          "last message")
    if name in replies["elsewhere"]:
        raise CheckFailed(f"told {name!r} on thread 'thread-a'; thread 'thread-b' answered "
                          f"{excerpt(replies['elsewhere'])}", expected="no name on thread-b")


TASK = Task(
    number=1, slug="task1_memory", title="A support agent with InMemorySaver", minutes=30,
    checks=(
        Check("memory-saver", "build_agent() uses an InMemorySaver", 2,
              "compile the graph with checkpointer=InMemorySaver()", check_saver),
        Check("same-thread-remembers", "the same thread id remembers the name", 4,
              "pass {'configurable': {'thread_id': thread_id}} to invoke, and keep the messages "
              "in state with the add_messages reducer (MessagesState does)", check_same_thread),
        Check("other-thread-forgets", "another thread id does not know the name", 4,
              "use the thread_id you are given; never a fixed one or a global list of messages",
              check_other_thread),
    ),
)
