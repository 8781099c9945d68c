"""Reference solution, task 6: a supervisor approves, edits or rejects each refund."""

from __future__ import annotations

from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from exercises.kit import REFUND_TOOL_SPEC, SYSTEM_PROMPT, offline_model, shop_tools

REFUND = REFUND_TOOL_SPEC["function"]["name"]  # "issue_refund"


def build_agent(checkpointer, ledger):
    """A compiled agent graph that pauses for a supervisor before every refund."""
    tools = shop_tools()
    model = offline_model().bind_tools([*tools, REFUND_TOOL_SPEC])

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        if not calls:
            return END
        # The model asks for one tool at a time; a refund always goes past the supervisor.
        return "refund" if any(call["name"] == REFUND for call in calls) else "tools"

    def refund(state: MessagesState) -> dict:
        """Ask the supervisor about each refund call, then carry out what they decided."""
        results = []
        for call in state["messages"][-1].tool_calls:
            if call["name"] != REFUND:
                continue
            # Nothing may happen before this line: on resume the node runs again from the
            # top, and `interrupt` then returns the supervisor's decision instead of pausing.
            decision = interrupt({"tool": REFUND, "args": call["args"],
                                  "tool_call_id": call["id"]})
            if decision.get("action") == "reject":
                results.append(ToolMessage(
                    f"A supervisor declined this refund: {decision.get('reason', '')}",
                    tool_call_id=call["id"], name=REFUND, status="error"))
                continue
            args = {**call["args"], **(decision.get("args") or {})}  # "edit" changes some
            # The tool call's id as the key: re-running this node (a replay, a retry) can
            # never pay the same refund twice.
            text = ledger.refund(args["order_id"], args.get("amount"), key=call["id"])
            results.append(ToolMessage(text, tool_call_id=call["id"], name=REFUND))
        return {"messages": results}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("refund", refund)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", "refund", END])
    builder.add_edge("tools", "agent")
    builder.add_edge("refund", "agent")
    return builder.compile(checkpointer=checkpointer)
