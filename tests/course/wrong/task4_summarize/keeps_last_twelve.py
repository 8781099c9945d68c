"""Wrong: prunes by keeping messages[-12:], which drops the system prompt and splits tool pairs."""

from langchain_core.messages import RemoveMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"system-prompt-kept", "tool-pairs-intact"}

MAX_MESSAGES = 12


class State(MessagesState):
    summary: str


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: State) -> dict:
        messages = state["messages"]
        if state.get("summary"):
            messages = [SystemMessage(f"Summary of the earlier conversation:\n{state['summary']}"),
                        *messages]
        return {"messages": [model.invoke(messages)]}

    def prune(state: State) -> dict:
        messages = state["messages"]
        if len(messages) <= MAX_MESSAGES:
            return {}
        folded = messages[:-MAX_MESSAGES]
        return {"summary": summarize(state.get("summary", ""), folded),
                "messages": [RemoveMessage(id=m.id) for m in folded]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("prune", prune)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "prune"})
    builder.add_edge("tools", "agent")
    builder.add_edge("prune", END)
    return builder.compile(checkpointer=checkpointer)
