"""Wrong: the graph is compiled without a checkpointer, so every message starts afresh."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph

from exercises.kit import SYSTEM_PROMPT, offline_model

EXPECTED_FAILURES = {"memory-saver", "same-thread-remembers"}


def build_agent():
    model = offline_model()

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    return builder.compile()


def ask(graph, thread_id: str, text: str) -> str:
    config = {"configurable": {"thread_id": thread_id}}
    return graph.invoke({"messages": [HumanMessage(text)]}, config)["messages"][-1].text
