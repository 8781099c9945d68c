"""Wrong: every conversation uses one fixed thread id, so all customers share one memory."""

import sqlite3

from langchain_core.messages import SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools

EXPECTED_FAILURES = {"threads-isolated", "processes-isolated", "sessions-separate",
                     "no-id-collisions"}


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


def session_config(user_id: str, session_id: str) -> dict:
    return {"configurable": {"thread_id": "default"}}
