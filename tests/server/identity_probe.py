"""A small graph that reports who LangGraph Server says its runs act for (served by the tests).

`look` records `acting_identity` and `acting_supervisor` as a node sees them; `wait` pauses
like the approval step, so that a supervisor resumes the run and `look` runs again for them.
"""

from __future__ import annotations

import operator
from dataclasses import asdict
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from agent.auth import acting_identity, acting_supervisor


class ProbeState(TypedDict, total=False):
    """What each `look` saw, in order."""

    seen: Annotated[list[dict[str, Any]], operator.add]


def look(state: ProbeState, config: RunnableConfig) -> dict[str, Any]:
    """Record who the run acts for and who resumed it."""
    identity = acting_identity(config)
    return {"seen": [{"customer": asdict(identity) if identity else None,
                      "supervisor": acting_supervisor(config)}]}


def wait(state: ProbeState) -> dict[str, Any]:
    """Pause until a supervisor resumes the run."""
    interrupt("waiting for a supervisor")
    return {}


builder = StateGraph(ProbeState)
builder.add_node("look", look)
builder.add_node("wait", wait)
builder.add_node("look_again", look)
builder.add_edge(START, "look")
builder.add_edge("look", "wait")
builder.add_edge("wait", "look_again")
builder.add_edge("look_again", END)
graph = builder.compile()
