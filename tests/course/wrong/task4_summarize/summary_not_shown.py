"""Wrong: keeps a good summary in state but never shows it to the model."""

from langchain_core.messages import HumanMessage, RemoveMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"still-knows-name"}

MAX_MESSAGES = 12


class State(MessagesState):
    summary: str


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: State) -> dict:
        return {"messages": [model.invoke(state["messages"])]}  # the summary is left out

    def summarize_old_turns(state: State) -> dict:
        body = state["messages"][1:]  # messages[0] is the system prompt
        if len(body) + 1 <= MAX_MESSAGES:
            return {}
        starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
        cut = next(i for i in starts if len(body) - i + 1 <= MAX_MESSAGES)
        folded = body[:cut]
        return {"summary": summarize(state.get("summary", ""), folded),
                "messages": [RemoveMessage(id=m.id) for m in folded]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("summarize", summarize_old_turns)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "summarize"})
    builder.add_edge("tools", "agent")
    builder.add_edge("summarize", END)
    return builder.compile(checkpointer=checkpointer)
