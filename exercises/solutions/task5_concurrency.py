"""Reference solution, task 5: many customers at once, one thread per (user, session)."""

from __future__ import annotations

import json
import sqlite3

from langchain_core.messages import SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(db_path: str):
    """A compiled agent graph on a SQLite file, safe for many threads and processes at once."""
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    # check_same_thread=False: the saver guards its one connection with a lock, so every Python
    # thread may share it. timeout=30: when another process holds the write lock, wait for it
    # instead of failing at once with "database is locked".
    connection = sqlite3.connect(db_path, check_same_thread=False, timeout=30)
    return builder.compile(checkpointer=SqliteSaver(connection))


def session_config(user_id: str, session_id: str) -> dict:
    """The config of one user's conversation: the same ids always give the same thread."""
    # JSON quotes and escapes both ids, so no characters inside them can make two different
    # pairs spell the same thread id; and unlike hash() or uuid4() it is the same in every
    # process, so a conversation continues after a restart.
    thread_id = json.dumps([user_id, session_id])
    return {"configurable": {"thread_id": thread_id}}
