"""Task 6: a supervisor approves, edits or rejects every refund before it is paid.

Read BRIEF.md first. Grade this file with:  support-agent grade 6
"""

from __future__ import annotations

# You will need some of these:
# from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
# from langgraph.graph import END, START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode
# from langgraph.types import interrupt
# from exercises.kit import REFUND_TOOL_SPEC, SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(checkpointer, ledger):
    """Return the compiled agent graph; refunds wait for a supervisor's decision."""
    # TODO 1: bind the shop tools AND REFUND_TOOL_SPEC to the offline model.
    # TODO 2: an "agent" node that calls the model with the system prompt and the messages.
    # TODO 3: a "tools" node (ToolNode over the shop tools only) for the safe calls.
    # TODO 4: a "refund" node: for the issue_refund call, FIRST
    #         decision = interrupt({"tool": "issue_refund", "args": call["args"]});
    #         then, on "approve" or "edit" (merge decision["args"] over the call's args),
    #         ledger.refund(order_id, amount, key=call["id"]) and a ToolMessage with its text;
    #         on "reject", no refund: ToolMessage(<the reason>, ..., status="error").
    # TODO 5: route from "agent": no tool calls -> END, an issue_refund call -> "refund",
    #         anything else -> "tools"; both "tools" and "refund" lead back to "agent".
    # TODO 6: compile with the checkpointer you were given.
    raise NotImplementedError("build_agent: build the graph that pauses before each refund")
