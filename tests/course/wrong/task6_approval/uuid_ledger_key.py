"""Wrong: the ledger key is a fresh uuid, so a replayed refund node pays the refund again."""

import uuid

from langchain_core.messages import SystemMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from exercises.kit import REFUND_TOOL_SPEC, SYSTEM_PROMPT, offline_model, shop_tools

EXPECTED_FAILURES = {"no-double-refund"}


def build_agent(checkpointer, ledger):
    tools = shop_tools()
    model = offline_model().bind_tools([*tools, REFUND_TOOL_SPEC])

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    def route(state: MessagesState) -> str:
        calls = state["messages"][-1].tool_calls
        if not calls:
            return END
        return "refund" if calls[0]["name"] == "issue_refund" else "tools"

    def refund(state: MessagesState) -> dict:
        call = state["messages"][-1].tool_calls[0]
        decision = interrupt({"tool": "issue_refund", "args": call["args"]})
        if decision["action"] == "reject":
            return {"messages": [ToolMessage(f"Rejected: {decision['reason']}",
                                             tool_call_id=call["id"], status="error")]}
        args = {**call["args"], **decision.get("args", {})}
        text = ledger.refund(args["order_id"], args.get("amount"), key=str(uuid.uuid4()))
        return {"messages": [ToolMessage(text, tool_call_id=call["id"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("refund", refund)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", "refund", END])
    builder.add_edge("tools", "agent")
    builder.add_edge("refund", "agent")
    return builder.compile(checkpointer=checkpointer)
