"""The stock LangGraph chat graph the project is measured against, and both graphs' floors.

Stock: `StateGraph(MessagesState)` with one node calling the same offline model, compiled with
a saver built the way LangGraph's docs build it (default serde, default durability), and no
pruning. Floor: a graph compiled without a checkpointer, the whole history passed in on each
turn, so what a turn costs beyond it is what persisting costs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.memory import InMemoryStore

from agent.graph import build_graph
from agent.model.factory import make_chat_model
from agent.persistence.db import SqliteDatabase
from agent.persistence.migrations import migrate
from agent.settings import Settings
from agent.state import SupportContext


def stock_graph(model: Any, checkpointer: BaseCheckpointSaver | None) -> CompiledStateGraph:
    """The LangGraph quickstart chat graph: one node that calls the model."""

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer)


@contextlib.contextmanager
def stock_saver(kind: str, *, sqlite_path: Path, postgres_url: str) -> Iterator[Any]:
    """A saver built the stock way: InMemorySaver(), SqliteSaver on a plain connection,
    PostgresSaver.from_conn_string, each with setup() and nothing else."""
    if kind == "memory":
        yield InMemorySaver()
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(str(sqlite_path), check_same_thread=False)
        try:
            saver = SqliteSaver(conn)
            saver.setup()
            yield saver
        finally:
            conn.close()
    elif kind == "postgres":
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(postgres_url) as saver:
            saver.setup()
            yield saver
    else:
        raise ValueError(f"unknown saver {kind!r}")


class StockTurns:
    """Turns on the stock graph over a saver (one thread)."""

    def __init__(self, saver: BaseCheckpointSaver, settings: Settings):
        self.saver = saver
        self.graph = stock_graph(make_chat_model(settings), saver)
        self.config = {"configurable": {"thread_id": "bench-stock"}}

    def turn(self, text: str) -> None:
        """One customer message and the reply, checkpointed by the saver."""
        self.graph.invoke({"messages": [HumanMessage(text)]}, self.config)

    def state_values(self) -> dict[str, Any]:
        """The thread's current values."""
        return self.graph.get_state(self.config).values


class StockFloor:
    """The stock graph without a checkpointer: the caller keeps the history."""

    def __init__(self, settings: Settings):
        self.graph = stock_graph(make_chat_model(settings), None)
        self.messages: list[Any] = []

    def turn(self, text: str) -> None:
        """One turn, the whole history passed in."""
        result = self.graph.invoke({"messages": [*self.messages, HumanMessage(text)]})
        self.messages = result["messages"]


class ProjectFloor:
    """The project's graph without a checkpointer (in-memory shop and store, no registry,
    no locks): the previous turn's whole state is passed back in as input."""

    def __init__(self, settings: Settings):
        self.db = SqliteDatabase(":memory:")
        from agent.domain.seed import seed_demo_shop
        from agent.domain.shop import Shop

        migrate(self.db, on_create=seed_demo_shop)
        self.graph = build_graph(checkpointer=None, store=InMemoryStore(), settings=settings,
                                 shop=Shop(self.db))
        self.context = SupportContext(user_id="alice", tenant="acme")
        self.config = {"configurable": {"thread_id": "bench-floor"}}  # the tools name it
        self.values: dict[str, Any] = {}

    def turn(self, text: str) -> None:
        """One turn streamed as the desk streams it, the previous state passed in."""
        graph_input = {**self.values,
                       "messages": [*self.values.get("messages", []), HumanMessage(text)]}
        final: dict[str, Any] = {}
        for mode, data in self.graph.stream(graph_input, self.config, context=self.context,
                                            stream_mode=["messages", "updates", "values"]):
            if mode == "values":
                final = data
        self.values = final

    def close(self) -> None:
        """Release the in-memory shop."""
        self.db.close()
