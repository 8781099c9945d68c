"""Wrong: removes the old turns at turn boundaries but keeps no summary of them."""

from langchain_core.messages import HumanMessage, RemoveMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools

EXPECTED_FAILURES = {"summary-keeps-facts", "still-knows-name"}

MAX_MESSAGES = 12


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def prune(state: MessagesState) -> dict:
        body = state["messages"][1:]  # messages[0] is the system prompt
        if len(body) + 1 <= MAX_MESSAGES:
            return {}
        starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
        cut = next(i for i in starts if len(body) - i + 1 <= MAX_MESSAGES)
        return {"messages": [RemoveMessage(id=m.id) for m in body[:cut]]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("prune", prune)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "prune"})
    builder.add_edge("tools", "agent")
    builder.add_edge("prune", END)
    return builder.compile(checkpointer=checkpointer)
