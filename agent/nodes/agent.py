"""The agent node: one chat-model call with the tools on offer."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import SystemMessage

from agent.prompts import system_prompt
from agent.state import SupportState


def make_agent_node(model: BaseChatModel, tool_specs: list[dict[str, Any]]):
    """The agent node, bound to a model and the tool schemas."""
    bound = model.bind_tools(tool_specs)

    def agent(state: SupportState) -> dict[str, Any]:
        """Ask the model for the next reply or tool calls."""
        profile = state.get("customer", {}).get("profile", {})
        system = SystemMessage(system_prompt(profile, state.get("summary", "")))
        return {"messages": [bound.invoke([system, *state["messages"]])]}

    return agent
