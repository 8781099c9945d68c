"""Run the pending tool calls of the newest AI message, each as the thread's own customer."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.crash import INERT, CrashSwitch
from agent.domain.shop import Customer, Shop, ShopRuleError
from agent.nodes.messages import unanswered_tool_calls
from agent.state import SupportContext, SupportState
from agent.tools import ToolContext, registry
from agent.tools.base import describe_validation_error


def make_tool_node(shop: Shop, *, refuse: frozenset[str] = frozenset(),
                   crash: CrashSwitch = INERT):
    """A node that runs pending tool calls; calls named in `refuse` are answered with an error.

    The safe-tools node refuses the sensitive tools, so a state edited by hand can never run
    a refund that skipped approval.
    """

    def run_tools(state: SupportState, config: RunnableConfig,
                  runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Run each unanswered tool call and answer it with a ToolMessage."""
        context = runtime.context
        customer = Customer(tenant=context.tenant, user_id=context.user_id)
        thread_id = str(config["configurable"]["thread_id"])
        results = []
        for call in unanswered_tool_calls(state["messages"]):
            content, status = _run_call(call, ToolContext(shop, customer, thread_id, call["id"]),
                                        refuse)
            if status == "success":
                crash.reached(f"tool:{call['name']}")  # the side effect is committed
            results.append(ToolMessage(content, tool_call_id=call["id"], name=call["name"],
                                       status=status))
        return {"messages": results}

    return run_tools


def _run_call(call: dict, context: ToolContext, refuse: frozenset[str]) -> tuple[str, str]:
    tool = registry.get(call["name"])
    if tool is None:
        return f"There is no tool called {call['name']!r}.", "error"
    if call["name"] in refuse:
        return f"{call['name']} needs a supervisor's approval first.", "error"
    try:
        return tool.run(context, call["args"]), "success"
    except ValidationError as exc:
        return f"Invalid arguments for {tool.name}: {describe_validation_error(exc)}", "error"
    except ShopRuleError as exc:
        return str(exc), "error"
