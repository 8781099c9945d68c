"""Wrong: keeps the system message and the last 10 messages: a count, not a turn boundary."""

from langchain_core.messages import RemoveMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"tool-pairs-intact"}

MAX_MESSAGES = 12
KEEP = 10  # the newest messages kept after the system message


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
        folded = body[:-KEEP]  # may end between a tool call and its result
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
