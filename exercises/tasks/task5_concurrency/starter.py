"""Task 5: many customers at once, one conversation thread per (user, session).

Read BRIEF.md first. Grade this file with:  support-agent grade 5
"""

from __future__ import annotations

# You will need some of these:
# import json
# import sqlite3
# from langchain_core.messages import SystemMessage
# from langgraph.checkpoint.sqlite import SqliteSaver
# from langgraph.graph import START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode, tools_condition
# from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(db_path: str):
    """Return the compiled agent graph, checkpointing into the SQLite file at `db_path`."""
    # TODO 1: build the same agent as in task 2 (model with the shop tools, "agent" and
    #         "tools" nodes, tools_condition).
    # TODO 2: open the SQLite file so every Python thread may use the connection, and so a
    #         writer waits (say 30 s) while another process holds the database lock.
    # TODO 3: compile with a SqliteSaver on that connection.
    raise NotImplementedError("build_agent: build the graph on a SqliteSaver at db_path")


def session_config(user_id: str, session_id: str) -> dict:
    """Return the config of this user's conversation: {"configurable": {"thread_id": ...}}."""
    # TODO 4: make one thread id out of both ids; the same pair must give the same id in
    #         every process, and two different pairs must never give the same id, whatever
    #         characters the ids contain (your separator too).
    # TODO 5: return it as {"configurable": {"thread_id": thread_id}}.
    raise NotImplementedError("session_config: make a thread id from the user and session ids")
