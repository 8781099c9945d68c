"""Reference solution, task 1: a support agent whose threads live in an InMemorySaver."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent():
    """A compiled agent graph that checkpoints into memory."""
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
    return builder.compile(checkpointer=InMemorySaver())


def ask(graph, thread_id: str, text: str) -> str:
    """Send one customer message on a thread and return the agent's reply."""
    config = {"configurable": {"thread_id": thread_id}}
    result = graph.invoke({"messages": [HumanMessage(text)]}, config)
    return result["messages"][-1].text
