"""Wrong: a uuid4 per (user, session) kept in a dict: a restarted process starts new threads."""

import sqlite3
import uuid

from langchain_core.messages import SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools

EXPECTED_FAILURES = {"session-continues"}


def build_agent(db_path):
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
    connection = sqlite3.connect(db_path, check_same_thread=False, timeout=30)
    return builder.compile(checkpointer=SqliteSaver(connection))


_threads: dict[tuple[str, str], str] = {}


def session_config(user_id: str, session_id: str) -> dict:
    thread_id = _threads.setdefault((user_id, session_id), str(uuid.uuid4()))
    return {"configurable": {"thread_id": thread_id}}
