"""Wrong: ask() waits forever for a reply that is already there (an endless loop)."""

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from exercises.kit import offline_model

EXPECTED_FAILURES = {"same-thread-remembers", "other-thread-forgets"}


def build_agent():
    model = offline_model()
    builder = StateGraph(MessagesState)
    builder.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=InMemorySaver())


def ask(graph, thread_id: str, text: str) -> str:
    config = {"configurable": {"thread_id": thread_id}}
    result = graph.invoke({"messages": [HumanMessage(text)]}, config)
    while result["messages"][-1].type != "system":  # never true: loops forever
        pass
    return result["messages"][-1].text
