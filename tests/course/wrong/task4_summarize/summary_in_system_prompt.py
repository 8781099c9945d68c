"""Wrong: writes the summary into the system message (same id), so messages[0] changes."""

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"system-prompt-kept"}

MAX_MESSAGES = 12


class State(MessagesState):
    summary: str


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: State) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def summarize_old_turns(state: State) -> dict:
        system, *body = state["messages"]
        if len(body) + 1 <= MAX_MESSAGES:
            return {}
        starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
        cut = next(i for i in starts if len(body) - i + 1 <= MAX_MESSAGES)
        folded = body[:cut]
        summary = summarize(state.get("summary", ""), folded)
        # Same id: add_messages replaces the system message in place with this new text.
        rewritten = SystemMessage(f"{SYSTEM_PROMPT}\n\nSummary of the earlier conversation:\n"
                                  f"{summary}", id=system.id)
        return {"summary": summary,
                "messages": [rewritten, *(RemoveMessage(id=m.id) for m in folded)]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("summarize", summarize_old_turns)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "summarize"})
    builder.add_edge("tools", "agent")
    builder.add_edge("summarize", END)
    return builder.compile(checkpointer=checkpointer)
