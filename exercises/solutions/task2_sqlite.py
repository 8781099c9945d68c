"""Reference solution, task 2: the same agent, its threads in a SQLite file."""

from __future__ import annotations

import sqlite3

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(db_path: str):
    """A compiled agent graph that checkpoints into the SQLite file at `db_path`."""
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
    # One connection for the life of the graph, left open (from_conn_string would close it when
    # its with-block ends). LangGraph saves checkpoints from a worker thread, hence
    # check_same_thread=False; the saver's own lock serialises its use of the connection.
    connection = sqlite3.connect(db_path, check_same_thread=False)
    return builder.compile(checkpointer=SqliteSaver(connection))


def ask(graph, thread_id: str, text: str) -> str:
    """Send one customer message on a thread and return the agent's reply."""
    config = {"configurable": {"thread_id": thread_id}}
    result = graph.invoke({"messages": [HumanMessage(text)]}, config)
    return result["messages"][-1].text
