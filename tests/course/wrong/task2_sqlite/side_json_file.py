"""Wrong: the name is kept in a JSON file beside db_path; the SqliteSaver is on ':memory:'."""

import json
import re
import sqlite3
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from exercises.kit import SYSTEM_PROMPT, offline_model

EXPECTED_FAILURES = {"checkpoints-in-file"}


def build_agent(db_path: str):
    model = offline_model()

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    graph = builder.compile(
        checkpointer=SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False)))
    graph.names_file = Path(db_path).with_suffix(".names.json")
    return graph


def ask(graph, thread_id: str, text: str) -> str:
    names = json.loads(graph.names_file.read_text()) if graph.names_file.exists() else {}
    told = re.search(r"my name is (\w+)", text, re.IGNORECASE)
    if told:
        names[thread_id] = told.group(1)
        graph.names_file.write_text(json.dumps(names))
    messages = [HumanMessage(text)]
    if thread_id in names:
        messages.insert(0, SystemMessage(f"The customer's name is {names[thread_id]}."))
    config = {"configurable": {"thread_id": thread_id}}
    return graph.invoke({"messages": messages}, config)["messages"][-1].text
