"""The support agent graph, one turn read top to bottom.

    START -> [withdraw] -> load_memory -> [prune] -> [summarize] -> agent
    START -> [withdraw] -> person -> END     (a person handles the thread: the assistant waits)
    agent -> tools -> agent                  (only safe tools asked for)
    agent -> screen -> approval -> actions -> agent
                                             (a refund, cancellation or address change: what
                                              can never succeed is refused before approval)
    agent -> [remember] -> END               (the reply; remember only if new facts)

Bracketed nodes run only when their condition holds, so a short turn writes no extra
checkpoint. A supervisor's message, or a customer's while a person handles the thread, goes to
`person` instead of the assistant. A customer message sent while tool calls still wait (an
approval pending) withdraws them first, so the thread never holds an unanswered call.
The graph is given its checkpointer, store, shop and model; it never opens a database or
imports the UI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from agent.core.seal import DecisionSeal
from agent.crash import CrashSwitch
from agent.domain.audit import AuditLog
from agent.domain.secrets import app_secret
from agent.domain.shop import Shop
from agent.nodes import NODE_NAMES
from agent.nodes.agent import make_agent_node
from agent.nodes.approval import make_approval_node, needs_approval
from agent.nodes.memory import load_memory, new_facts, remember
from agent.nodes.messages import unanswered_tool_calls
from agent.nodes.person import for_a_person, make_person_node
from agent.nodes.prune import make_prune_node, needs_pruning
from agent.nodes.screen import make_screen_node
from agent.nodes.summarize import make_summarize_node, needs_summary
from agent.nodes.tools import make_tool_node
from agent.nodes.withdraw import calls_left_behind, withdraw
from agent.settings import Settings
from agent.state import SupportContext, SupportState
from agent.tools import registry

NODES = NODE_NAMES


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver | None,
    store: BaseStore | None,
    settings: Settings,
    shop: Shop,
    model: BaseChatModel | None = None,
) -> CompiledStateGraph:
    """Compile the support graph around the given persistence, shop and model."""
    if model is None:
        from agent.model.factory import make_chat_model

        model = make_chat_model(settings)
    approval_required = frozenset(settings.approval_required)
    crash = CrashSwitch(settings.crash_at)
    audit = AuditLog(shop.db)
    seal = DecisionSeal(app_secret(shop.db, "decision-seal"))

    def at_start(state: SupportState) -> str:
        return "withdraw" if calls_left_behind(state) else after_withdraw(state)

    def after_withdraw(state: SupportState) -> str:
        return "person" if for_a_person(state) else "load_memory"

    def after_memory(state: SupportState) -> str:
        if needs_pruning(state["messages"], settings):
            return "prune"
        return after_prune(state)

    def after_prune(state: SupportState) -> str:
        return "summarize" if needs_summary(state["messages"], settings) else to_agent(state)

    def to_agent(state: SupportState) -> str:
        # Calls still unanswered (a state written by hand, as any node) are screened and
        # approved like the model's own: the agent never runs past an unanswered call.
        return "screen" if unanswered_tool_calls(state["messages"]) else "agent"

    def after_agent(state: SupportState) -> str:
        if unanswered_tool_calls(state["messages"]):
            return "screen" if needs_approval(state["messages"], approval_required) else "tools"
        return "remember" if new_facts(state) else END

    def after_screen(state: SupportState) -> str:
        if needs_approval(state["messages"], approval_required):
            return "approval"
        return "tools" if unanswered_tool_calls(state["messages"]) else "agent"

    def after_person(state: SupportState) -> str:
        return "screen" if unanswered_tool_calls(state["messages"]) else END

    def after_actions(state: SupportState) -> str:
        # A supervisor wrote to the customer instead of deciding: a person has the thread.
        return END if state.get("handoff") else to_agent(state)

    nodes = {
        "load_memory": load_memory,
        "prune": make_prune_node(settings),
        "summarize": make_summarize_node(model, settings, crash),
        "agent": make_agent_node(model, registry.specs()),
        "tools": make_tool_node(shop, sensitive=approval_required, crash=crash),
        "screen": make_screen_node(shop, approval_required),
        "approval": make_approval_node(approval_required, seal),
        "actions": make_tool_node(shop, sensitive=approval_required, seal=seal, audit=audit,
                                  crash=crash),
        "remember": remember,
        "person": make_person_node(audit),
        "withdraw": withdraw,
    }
    builder = StateGraph(SupportState, context_schema=SupportContext)
    for name, node in nodes.items():
        builder.add_node(name, _crash_after(name, node, crash) if crash.armed else node)

    builder.add_conditional_edges(START, at_start, ["withdraw", "person", "load_memory"])
    builder.add_conditional_edges("withdraw", after_withdraw, ["person", "load_memory"])
    builder.add_conditional_edges("person", after_person, ["screen", END])
    builder.add_conditional_edges("load_memory", after_memory,
                                  ["prune", "summarize", "screen", "agent"])
    builder.add_conditional_edges("prune", after_prune, ["summarize", "screen", "agent"])
    builder.add_conditional_edges("summarize", to_agent, ["screen", "agent"])
    builder.add_conditional_edges("agent", after_agent, ["tools", "screen", "remember", END])
    builder.add_conditional_edges("tools", to_agent, ["screen", "agent"])
    builder.add_conditional_edges("screen", after_screen, ["approval", "tools", "agent"])
    builder.add_edge("approval", "actions")
    builder.add_conditional_edges("actions", after_actions, ["screen", "agent", END])
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=checkpointer, store=store, name="support-agent")


def _crash_after(name: str, node: Callable[..., Any], crash: CrashSwitch) -> Callable[..., Any]:
    """The node, followed by the `after:<name>` crash point (only built when crash is armed)."""

    @functools.wraps(node)  # keeps the signature LangGraph reads to pass config and runtime
    def node_then_crash_point(*args: Any, **kwargs: Any) -> Any:
        update = node(*args, **kwargs)
        crash.reached(f"after:{name}")
        return update

    return node_then_crash_point
