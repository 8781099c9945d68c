"""Task 2: the support agent again, its conversations kept in a SQLite file.

Read BRIEF.md first. Grade this file with:  support-agent grade 2
"""

from __future__ import annotations

# You will need some of these:
# import sqlite3
# from langchain_core.messages import HumanMessage, SystemMessage
# from langgraph.checkpoint.sqlite import SqliteSaver
# from langgraph.graph import START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode, tools_condition
# from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(db_path: str):
    """Return the compiled agent graph, checkpointing into the SQLite file at `db_path`."""
    # TODO 1: bind the shop tools to the offline model.
    # TODO 2: an "agent" node that calls the model with the system prompt and the messages.
    # TODO 3: a "tools" node (ToolNode) and the edges agent -> tools -> agent.
    # TODO 4: open a connection to db_path that stays open (and may be used from other
    #         threads), and wrap it in a SqliteSaver.
    # TODO 5: compile with that saver as the checkpointer.
    raise NotImplementedError("build_agent: build the graph and compile it with a SqliteSaver")


def ask(graph, thread_id: str, text: str) -> str:
    """Send one customer message on a thread; return the agent's reply text."""
    # TODO 6: invoke the graph with the message and a config naming the thread.
    # TODO 7: return the text of the last message in the result.
    raise NotImplementedError("ask: invoke the graph on the thread and return the reply")
