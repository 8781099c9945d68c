"""The agent's graph as a picture (Graphviz DOT), drawn from the compiled graph itself.

Nodes and edges come from `graph.get_graph()`, so a node added to the graph appears here
without a change. Normal edges are solid, conditional ones dashed; `__start__` and `__end__`
show as "start" and "end". The nodes given as `highlight` (what runs next at a checkpoint)
are filled. DOT is text: `st.graphviz_chart` renders it in the browser, no Graphviz needed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

START, END = "__start__", "__end__"
# What each node does, for people who do not read node names (customers). A node missing
# here is named after itself, with its underscores as spaces.
NODE_WORDS = {
    START: "start",
    END: "end",
    "load_memory": "recall what we know about you",
    "prune": "set old messages aside",
    "summarize": "summarise old messages",
    "agent": "assistant thinks and writes",
    "tools": "look things up",
    "approval": "supervisor approves",
    "actions": "carry out the approved action",
    "remember": "remember for next time",
    "screen": "check the request is possible",
    "person": "a person from our team",
    "withdraw": "withdraw what waits if you write again",
}
LINE_CHARS = 16  # words are wrapped onto lines this long, so the picture stays narrow
HIGHLIGHT_FILL = "#ffbd45"
HIGHLIGHT_LINE = "#c25700"
NODE_FILL = "#f0f2f6"
LINE = "#555867"


def node_label(name: str, *, technical: bool) -> str:
    """How a node is named in the picture: its name for supervisors, words for customers."""
    if name in (START, END):
        return NODE_WORDS[name]
    if technical:
        return name
    return NODE_WORDS.get(name, name.replace("_", " ").strip())


def graph_dot(drawable: Any, highlight: Iterable[str] = (), *, technical: bool = True) -> str:
    """DOT for a LangGraph drawable graph (`compiled.get_graph()`), `highlight` filled."""
    marked = set(highlight)
    lines = [
        "digraph agent {",
        '  graph [rankdir=TB, bgcolor="transparent", nodesep=0.25, ranksep=0.35];',
        f'  node [shape=box, style="rounded,filled", fillcolor="{NODE_FILL}", color="{LINE}", '
        'fontname="Helvetica", fontsize=12, margin="0.1,0.05"];',
        f'  edge [color="{LINE}", arrowsize=0.7];',
    ]
    for name in drawable.nodes:
        attributes = {"label": _wrapped(node_label(name, technical=technical))}
        if name in (START, END):
            attributes["shape"] = "oval"
        if name in marked:
            attributes.update(fillcolor=HIGHLIGHT_FILL, color=HIGHLIGHT_LINE, penwidth="2.5",
                              fontname="Helvetica-Bold", tooltip="runs next",
                              # SVG output: the node's group gets this class (tests find it).
                              **{"class": "runs-next"})
        lines.append(f"  {_quoted(name)} [{_attributes(attributes)}];")
    for edge in drawable.edges:
        style = ' [style="dashed"]' if edge.conditional else ""
        lines.append(f"  {_quoted(edge.source)} -> {_quoted(edge.target)}{style};")
    lines.append("}")
    return "\n".join(lines)


def _wrapped(label: str) -> str:
    """The label on short lines, so the picture stays narrow enough to read."""
    return "\n".join(textwrap.wrap(label, LINE_CHARS) or [label])


def _attributes(values: dict[str, str]) -> str:
    return ", ".join(f"{key}={_quoted(value)}" for key, value in values.items())


def _quoted(text: str) -> str:
    """A DOT string: node names and labels can hold any character; lines break as DOT's \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'
