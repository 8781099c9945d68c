"""Screening: a sensitive request that can never succeed is refused before anyone is asked.

A refund above what is left, of an order not yet shipped or someone else's, never reaches a
supervisor: the call is answered with the reason, and the agent tells the customer. This is
its own step (before the approval step) so that the approval step's interrupts never depend
on checks whose answer could change between the pause and the resume.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AnyMessage, ToolMessage
from langgraph.runtime import Runtime

from agent.domain.shop import Customer, Shop
from agent.nodes.messages import unanswered_tool_calls
from agent.state import SupportContext, SupportState
from agent.tools import registry


def refusals(messages: list[AnyMessage], shop: Shop, customer: Customer,
             sensitive: frozenset[str]) -> list[ToolMessage]:
    """An error answer for each pending sensitive call that cannot succeed as asked."""
    answers = []
    for call in unanswered_tool_calls(messages):
        if call["name"] not in sensitive:
            continue
        why = refusal_of(call, shop, customer)
        if why:
            answers.append(ToolMessage(why, tool_call_id=call["id"],
                                       name=call["name"], status="error"))
    return answers


def refusal_of(call: dict[str, Any], shop: Shop, customer: Customer) -> str | None:
    """Why one call cannot succeed (bad arguments, ineligible order), or None."""
    tool = registry.get(call["name"])
    if tool is None:
        return f"There is no tool called {call['name']!r}."
    return tool.refusal(shop, customer, call["args"])


def make_screen_node(shop: Shop, sensitive: frozenset[str]):
    """The screening node for the configured set of sensitive tools."""

    def screen(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Answer the pending sensitive calls that cannot succeed; leave the rest for approval."""
        customer = Customer(runtime.context.tenant, runtime.context.user_id)
        answers = refusals(state["messages"], shop, customer, sensitive)
        return {"messages": answers} if answers else {}

    return screen
