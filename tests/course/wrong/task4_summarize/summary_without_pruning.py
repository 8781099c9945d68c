"""Wrong: summarises the old turns but never removes them, so the state keeps growing."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"bounded-messages", "state-size-flat"}

MAX_MESSAGES = 12


class State(MessagesState):
    summary: str


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: State) -> dict:
        messages = state["messages"]
        if state.get("summary"):
            note = SystemMessage(f"Summary of the earlier conversation:\n{state['summary']}")
            messages = [messages[0], note, *messages[1:]]
        return {"messages": [model.invoke(messages)]}

    def summarize_old_turns(state: State) -> dict:
        body = state["messages"][1:]  # messages[0] is the system prompt
        if len(body) + 1 <= MAX_MESSAGES:
            return {}
        starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
        cut = next(i for i in starts if len(body) - i + 1 <= MAX_MESSAGES)
        # The summary is updated, but no RemoveMessage is returned: `messages` never shrinks.
        return {"summary": summarize(state.get("summary", ""), body[:cut])}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("summarize", summarize_old_turns)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "summarize"})
    builder.add_edge("tools", "agent")
    builder.add_edge("summarize", END)
    return builder.compile(checkpointer=checkpointer)
