"""Cross-thread memory: load the customer's profile from the store, remember new facts."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.core.memory import PROFILE_KEY, profile_namespace
from agent.facts import extract_facts, merge_profile
from agent.nodes.messages import last_human_text
from agent.state import SupportContext, SupportState


def load_memory(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Put the customer and their remembered profile into the state (only if it changed)."""
    context = runtime.context
    item = runtime.store.get(profile_namespace(context.tenant, context.user_id), PROFILE_KEY)
    customer = {"user_id": context.user_id, "tenant": context.tenant,
                "profile": dict(item.value) if item else {}}
    return {} if state.get("customer") == customer else {"customer": customer}


def new_facts(state: SupportState) -> dict[str, Any]:
    """Facts in the latest customer message that the profile does not hold yet."""
    profile = state.get("customer", {}).get("profile", {})
    facts = extract_facts(last_human_text(state.get("messages", [])))
    return facts if merge_profile(profile, facts) != profile else {}


def remember(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Write the new facts to the customer's profile in the store."""
    context = runtime.context
    customer = dict(state.get("customer") or {"user_id": context.user_id,
                                               "tenant": context.tenant, "profile": {}})
    profile = merge_profile(customer.get("profile", {}), new_facts(state))
    runtime.store.put(profile_namespace(context.tenant, context.user_id), PROFILE_KEY, profile)
    return {"customer": {**customer, "profile": profile}}
