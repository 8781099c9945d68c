"""Wrong: every conversation uses one fixed thread id, so customers share one memory."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from exercises.kit import SYSTEM_PROMPT, offline_model

EXPECTED_FAILURES = {"other-thread-forgets"}


def build_agent():
    model = offline_model()

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=InMemorySaver())


def ask(graph, thread_id: str, text: str) -> str:
    config = {"configurable": {"thread_id": "default"}}
    return graph.invoke({"messages": [HumanMessage(text)]}, config)["messages"][-1].text
