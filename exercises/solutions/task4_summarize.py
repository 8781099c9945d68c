"""Reference solution, task 4: a support agent whose state stays small, however long the chat."""

from __future__ import annotations

from langchain_core.messages import AnyMessage, HumanMessage, RemoveMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import offline_model, shop_tools, summarize

MAX_MESSAGES = 12  # the most messages a thread may hold after a turn, system message included


class State(MessagesState):
    """The conversation, plus a running summary of the turns folded out of it."""

    summary: str


def messages_to_fold(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The oldest whole turns to take out so that at most MAX_MESSAGES remain ([] if none)."""
    if len(messages) <= MAX_MESSAGES:
        return []
    system = [m for m in messages if isinstance(m, SystemMessage)]
    body = [m for m in messages if not isinstance(m, SystemMessage)]
    room = MAX_MESSAGES - len(system)
    # A turn starts at a customer message, so cutting there never separates a tool call from
    # its ToolMessage. Take the earliest start that leaves few enough; at worst keep the last turn.
    starts = [i for i, m in enumerate(body) if isinstance(m, HumanMessage)]
    cut = next((i for i in starts if len(body) - i <= room), starts[-1] if starts else 0)
    return body[:cut]


def build_agent(checkpointer):
    """A compiled agent graph that folds old turns into a summary after each turn."""
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: State) -> dict:
        messages = state["messages"]
        if state.get("summary"):
            # The summary goes to the model only, right after the system prompt; it is not
            # stored as a message, so the thread's own messages stay as they were.
            note = SystemMessage(f"Summary of the earlier conversation:\n{state['summary']}")
            messages = [messages[0], note, *messages[1:]]
        return {"messages": [model.invoke(messages)]}

    def summarize_old_turns(state: State) -> dict:
        folded = messages_to_fold(state["messages"])
        if not folded:
            return {}
        return {"summary": summarize(state.get("summary", ""), folded),
                "messages": [RemoveMessage(id=m.id) for m in folded]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("summarize", summarize_old_turns)
    builder.add_edge(START, "agent")
    # When the model asks for no tool, the turn is over: tidy up before it ends.
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: "summarize"})
    builder.add_edge("tools", "agent")
    builder.add_edge("summarize", END)
    return builder.compile(checkpointer=checkpointer)
