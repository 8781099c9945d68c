"""Wrong: the SqliteSaver is right, but ask() saves every conversation under one fixed thread."""

import sqlite3

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from exercises.kit import SYSTEM_PROMPT, offline_model

EXPECTED_FAILURES = {"checkpoints-in-file", "other-thread-fresh"}


def build_agent(db_path: str):
    model = offline_model()

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    connection = sqlite3.connect(db_path, check_same_thread=False)
    return builder.compile(checkpointer=SqliteSaver(connection))


def ask(graph, thread_id: str, text: str) -> str:
    config = {"configurable": {"thread_id": "support"}}
    return graph.invoke({"messages": [HumanMessage(text)]}, config)["messages"][-1].text
