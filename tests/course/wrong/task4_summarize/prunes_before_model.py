"""Wrong: prunes at the start of a turn, so the turn's new messages push it past the limit."""

from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

EXPECTED_FAILURES = {"bounded-messages"}

MAX_MESSAGES = 12


class State(MessagesState):
    summary: str


def build_agent(checkpointer):
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def summarize_old_turns(state: State) -> dict:
        body = state["messages"][1:]  # messages[0] is the system prompt
        if len(body) + 1 <= MAX_MESSAGES:
            return {}
        starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
        cut = next(i for i in starts if len(body) - i + 1 <= MAX_MESSAGES)
        folded = body[:cut]
        return {"summary": summarize(state.get("summary", ""), folded),
                "messages": [RemoveMessage(id=m.id) for m in folded]}

    def agent(state: State) -> dict:
        messages = state["messages"]
        if state.get("summary"):
            note = SystemMessage(f"Summary of the earlier conversation:\n{state['summary']}")
            messages = [messages[0], note, *messages[1:]]
        return {"messages": [model.invoke(messages)]}

    builder = StateGraph(State)
    builder.add_node("summarize", summarize_old_turns)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "summarize")  # before the model: the turn then adds up to 3 more
    builder.add_edge("summarize", "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)
